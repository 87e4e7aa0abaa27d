import Testing
@testable import Sv2Service

@Test func moduleLinks() { #expect(Bool(true)) }
