// Waiting for an event in a test: polled, with a generous bound, never a fixed sleep.

/// Something a test waited for did not happen in time.
public struct WaitedInVain: Error, CustomStringConvertible {
    public let description: String
}

/// Polls `done` every 100 ms until it holds; throws `WaitedInVain`, saying what was awaited, after `limit`.
public func eventually(_ what: String, within limit: Duration = .seconds(20), else detail: () -> String = { "" },
                       _ done: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while try await !done() {
        guard clock.now < deadline else { throw WaitedInVain(description: "waited \(limit) for \(what) in vain. \(detail())") }
        try await Task.sleep(for: .milliseconds(100))
    }
}
