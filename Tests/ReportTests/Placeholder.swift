import Testing
@Test func placeholderReportTests() { #expect(Bool(true)) }
