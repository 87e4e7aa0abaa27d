import Testing
@testable import Sv2Codec

@Test func moduleLinks() { #expect(Bool(true)) }
