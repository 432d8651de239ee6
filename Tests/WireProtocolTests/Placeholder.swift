import Testing
@Test func placeholderWireProtocolTests() { #expect(Bool(true)) }
