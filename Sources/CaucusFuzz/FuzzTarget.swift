/// One decoder of untrusted bytes under fuzzing: the property it must keep on any input, and valid
/// inputs made by the real encoders to start mutating from.
public struct FuzzTarget: Sendable {
    /// The name `scripts/fuzz` and `caucus-fuzz` use, e.g. `did`.
    public let name: String
    /// What the target feeds and checks, in one line.
    public let summary: String
    /// Valid inputs produced by the encoders (never empty).
    public let seeds: @Sendable () -> [[UInt8]]
    /// Feeds `input` to the decoder; throws when a property does not hold. A crash or trap inside
    /// is a failure too, reported by the process dying.
    public let check: @Sendable ([UInt8]) throws(FuzzFailure) -> Void

    public init(name: String, summary: String, seeds: @escaping @Sendable () -> [[UInt8]],
                check: @escaping @Sendable ([UInt8]) throws(FuzzFailure) -> Void) {
        self.name = name
        self.summary = summary
        self.seeds = seeds
        self.check = check
    }
}

/// A property a decoder broke on some input (a crash is reported by the process itself).
public struct FuzzFailure: Error, CustomStringConvertible {
    /// What did not hold.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Throws a `FuzzFailure` with `message` unless `condition` holds.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(FuzzFailure) {
    guard condition else { throw FuzzFailure(message()) }
}

/// Every fuzz target, in the order `scripts/fuzz` runs them.
public enum FuzzTargets {
    /// All targets.
    public static let all: [FuzzTarget] = [
        did, invite, keystore, wireFrames, relayFrames, payload, pairwiseEnvelope, prekeyBundle, sessionMessage,
        membershipEntry, membershipChain, groupWelcome, groupMessage, groupState, cardRecords, unitList, evidenceBundle,
    ]

    /// The target called `name`, if there is one.
    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}
