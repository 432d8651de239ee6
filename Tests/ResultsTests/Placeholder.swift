import Testing
@Test func placeholderResultsTests() { #expect(Bool(true)) }
