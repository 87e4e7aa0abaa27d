import Testing
@testable import Sv2Mining

@Test func moduleLinks() { #expect(Bool(true)) }
