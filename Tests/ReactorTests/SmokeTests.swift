import Testing
@testable import Reactor

@Test func moduleLinks() { #expect(Bool(true)) }
