import Testing
@testable import Sv2Noise

@Test func moduleLinks() { #expect(Bool(true)) }
