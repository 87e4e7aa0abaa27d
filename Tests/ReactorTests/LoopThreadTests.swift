import Foundation
import Testing
@testable import Reactor

/// The threading contract's debug check: `inLoop` tells the loop's thread from others, and `LoopBound` values are
/// read on their loop.
@Suite("Loop thread")
struct LoopThreadTests {
    @Test(arguments: backends)
    func knowsItsThread(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        #expect(try runner.sync { runner.loop.inLoop })
        #expect(!runner.loop.inLoop)
        let bound = try runner.sync { LoopBound([1, 2, 3], on: runner.loop) }
        #expect(try runner.sync { bound.value } == [1, 2, 3])
        #expect(runner.stop())
        // A loop that is not running is not shared: setting it up from any one thread passes the check.
        #expect(!runner.loop.inLoop)
        runner.loop.assertInLoop()
        #expect(bound.value == [1, 2, 3])
    }
}
