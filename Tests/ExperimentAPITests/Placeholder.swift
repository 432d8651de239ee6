import Testing
@Test func placeholderExperimentAPITests() { #expect(Bool(true)) }
