import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a descriptor on a thread of its own until end of input, an error, or `stop()`.
///
/// The thread waits in `poll` on the descriptor and on a pipe of its own, so `stop()` can end it at once
/// without closing the descriptor under it.
final class InputReader: Sendable {
    private let fd: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    /// Signalled when the thread has returned.
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)

    /// A reader of `fd`; nothing is read until `start`.
    init(fd: Int32) {
        self.fd = fd
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) != 0 {
            ends = [-1, -1]  // poll skips negative descriptors: the reader then ends only with its input
        }
        wakeRead = ends[0]
        wakeWrite = ends[1]
    }

    deinit {
        if wakeRead >= 0 {
            close(wakeRead)
            close(wakeWrite)
        }
    }

    /// Starts the thread: `received` gets each chunk read, `ended` is called once if the input ends first.
    func start(received: @escaping @Sendable ([UInt8]) -> Void, ended: @escaping @Sendable () -> Void) {
        started.store(true, ordering: .releasing)
        let thread = Thread { [self] in
            defer { finished.signal() }
            if readUntilStopped(received: received) {
                ended()
            }
        }
        thread.name = "caucus-input"
        thread.start()
    }

    /// Ends the thread and waits (up to a second) until it has, so nothing typed afterwards is
    /// read here: input not read by then stays for whoever reads the terminal next.
    func stop() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        guard started.load(ordering: .acquiring) else { return }
        if finished.wait(timeout: .now() + 1) == .success { finished.signal() }  // a later stop() need not wait
    }

    /// Reads until the input ends (true) or `stop()` is called (false).
    private func readUntilStopped(received: @Sendable ([UInt8]) -> Void) -> Bool {
        var descriptors = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            guard poll(&descriptors, 2, -1) >= 0 else {
                if errno == EINTR { continue }
                return true
            }
            if descriptors[1].revents != 0 {
                return false
            }
            guard descriptors[0].revents != 0 else { continue }
            let count = read(fd, &buffer, buffer.count)
            if count > 0 {
                received(Array(buffer[..<count]))
            } else if count < 0, errno == EINTR || errno == EAGAIN {
                continue
            } else {
                return true
            }
        }
    }
}
