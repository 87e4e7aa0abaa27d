import CUring

/// Names the calling thread, as `top -H`, `ps -L` and `/proc/PID/task/TID/comm` show it.
///
/// Foundation's `Thread.name` on Linux names the kernel thread only when set from that thread itself, so a thread
/// set up with `thread.name = …` before `start()` keeps its parent's name. Call this first thing in the thread's
/// body instead. Names longer than 15 bytes (the kernel's limit) are cut. Failure is ignored: a name is a diagnostic.
///
/// - Parameter name: the thread's name, e.g. `sv2-loop-1`.
public func nameCurrentThread(_ name: String) {
    _ = cshims_name_current_thread(name)
}
