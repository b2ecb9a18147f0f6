import CaucusCrypto
import CaucusText

/// Someone as this user knows them, and the marks that go with their name wherever it is shown
/// (Protocol.md §9.5).
public struct PersonView: Sendable, Equatable {
    /// Who they are.
    public var did: DID
    /// The name they chose, exactly as they sent it (nil: none yet).
    public var name: String?
    /// The user themselves.
    public var isMe: Bool
    /// The user compared safety numbers with them and marked them verified.
    public var verified: Bool
    /// Everyone else the user knows (contacts, and the user) whose name is the same or looks alike.
    public var lookalikes: [DID]

    /// Put after the name of a verified person.
    public static let verifiedMark: Character = "✓"
    /// Put before the DID fragment of an unverified person whose name is the same as another's or looks alike.
    public static let lookAlikeMark: Character = "⚠"

    /// How the person is shown: their name (or short DID), ` ✓` when verified, and, when someone else's
    /// name is the same or looks alike, their DID fragment: `(z6MkAB…XY12)` when verified, else
    /// `(⚠ look-alike name, z6MkAB…XY12)`. Marks inside the name itself are shown escaped.
    public var label: TerminalLine {
        guard let name else { return "\(did.short)" }
        let verifiedMark: TerminalLine = verified ? " \(Self.verifiedMark)" : ""
        guard !lookalikes.isEmpty, !isMe else { return "\(Self.shown(name))\(verifiedMark)" }
        if verified { return "\(Self.shown(name))\(verifiedMark) (\(did.short))" }
        return "\(Self.shown(name)) (\(Self.lookAlikeMark) look-alike name, \(did.short))"
    }

    /// `name` as a name is shown: visibly (`TerminalText`), with the scalars of Caucus's own marks, and
    /// anything that looks like a colon (which ends a sender's name on a line), escaped too.
    public static func shown(_ name: String) -> TerminalLine {
        "\(TerminalText.visible(name, alsoEscaping: isReserved))"
    }

    /// Marks and what could pass for them: check marks, warning signs, colons.
    static func isReserved(_ scalar: Unicode.Scalar) -> Bool {
        reservedScalars.contains(scalar.value) || Confusables.looksLike(scalar, ":")
    }

    private static let reservedScalars: Set<UInt32> = [0x2713, 0x2714, 0x2705, 0x2611, 0x1F5F8, 0x221A, 0x26A0, 0x1F6C6]
}
