/// The backend behind an ``EventLoop``: an enum rather than an existential so the hot loop dispatches
/// with a plain switch.
enum Driver {
    case uring(UringDriver)
    case epoll(EpollDriver)
}
