import Foundation
import CaucusLock
import UnixSignals

/// What the run must undo (the relay process, the tmpfs mount, the temporary directory), done
/// once: when the run ends, however it ends, or when SIGINT or SIGTERM stop it early.
final class Teardown: Sendable {
    private let actions = Locked<[@Sendable () -> Void]>([])

    /// Adds an action; they run last added first.
    func add(_ action: @escaping @Sendable () -> Void) {
        actions.withLock { $0.append(action) }
    }

    /// Runs every action not run yet.
    func run() {
        let pending = actions.withLock { actions in defer { actions = [] }; return actions }
        for action in pending.reversed() { action() }
    }

    /// From now on SIGINT and SIGTERM run the actions and exit with 128 + the signal's number.
    func runOnSignals() async {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        Task {
            for await signal in signals {
                progress("stopped by \(signal): cleaning up")
                run()
                exit(128 + signal.rawValue)
            }
        }
    }
}
