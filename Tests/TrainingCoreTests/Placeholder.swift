import Testing
@Test func placeholderTrainingCoreTests() { #expect(Bool(true)) }
