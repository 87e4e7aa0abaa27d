import CUring
import Glibc
import Testing
@testable import Reactor

/// `Descriptor` makes "close a number that may already be reused" unwritable: the only ways to end one close it.
@Suite("Descriptor")
struct DescriptorTests {
    private func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) >= 0 }

    @Test func closeClosesTheNumber() {
        let fd = cshims_eventfd()
        let descriptor = Descriptor(adopting: fd)
        #expect(descriptor.rawValue == fd && isOpen(fd))
        descriptor.close()
        #expect(!isOpen(fd))
    }

    @Test func droppingADescriptorClosesIt() {
        let fd = cshims_eventfd()
        do { _ = Descriptor(adopting: fd) }
        #expect(!isOpen(fd))
        // The descriptor-reuse bug class: a second close of a number the kernel already handed to a new socket.
        let number = cshims_eventfd()
        var holder: Descriptor? = Descriptor(adopting: number)
        holder.take()?.close()
        #expect(!isOpen(number))
        let reused = cshims_eventfd()
        #expect(reused == number)  // lowest free number
        holder.take()?.close()  // nothing left to close
        #expect(isOpen(reused))
        Descriptor(adopting: reused).close()
    }

    @Test func listKeepsDescriptorsOpenUntilClosed() {
        var list = DescriptorList(capacity: 2)
        let numbers = (0..<5).map { _ in cshims_eventfd() }
        for fd in numbers { list.append(Descriptor(adopting: fd)) }  // grows past its first capacity
        #expect(list.count == 5 && numbers.allSatisfy(isOpen))
        list.closeAll()
        #expect(list.isEmpty && !numbers.contains(where: isOpen))
        let last = cshims_eventfd()
        list.append(Descriptor(adopting: last))
        _ = consume list  // whatever is left goes with the list
        #expect(!isOpen(last))
    }
}
