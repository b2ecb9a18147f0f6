import Foundation
import Testing

/// Impostors and look-alike names through the built `caucus` binary (issue 16, part 2): a member who takes
/// a name another member has, or one that looks like it, is flagged to every member, the copied person
/// included; verified members carry their mark; a verified contact stays addressable by name.
@Suite("Impostors and look-alike names in the caucus command", .timeLimit(.minutes(10)))
struct ImpostorCLITests {
    static let cyrillicMara = "M\u{430}ra"
    static let lure = "meeting moved to manager's office"

    @Test("An unverified \"Rosa\" and a Cyrillic \"Mаra\" are flagged to everyone, the real Rosa and Mara included")
    func impostorsAreFlagged() async throws {
        try await withRelay { relay, directory in
            let workers = try await makeGroup(["Rosa", "Amira", "Tomasz", "Mara"], relay: relay, in: directory)
            let (rosa, amira, tomasz, mara) = (workers[0], workers[1], workers[2], workers[3])
            // Amira compared safety numbers with Rosa and Mara in person; Tomasz verified no one.
            try await amira.succeed("read")
            try await amira.succeed("verify", "Rosa", "--confirm")
            try await amira.succeed("verify", "Mara", "--confirm")
            // Amira's conversation with Rosa (the welcome came over it) began with the hybrid start.
            let shown = try await amira.succeed("verify", "Rosa")
            #expect(shown.stdout.contains("began post-quantum (X3DH with ML-KEM-768)"), "\(shown)")
            let verified = try #require(try await amira.succeed("verify", "Rosa", "--json").json as? [String: Any])
            #expect(verified["sessions"] as? [String: Int] == ["post_quantum": 1, "classical": 0], "\(verified)")
            let rosaDID = try await Self.did(of: rosa), maraDID = try await Self.did(of: mara)

            let fakeRosa = CLIWorker(name: "Rosa", home: directory.file("fake-rosa"))
            try await fakeRosa.succeed("init", "--name", "Rosa", "--kdf", "interactive")
            try #require(try await fakeRosa.join(try await rosa.invite(), admittedBy: rosa).status == 0)
            let fakeMara = CLIWorker(name: Self.cyrillicMara, home: directory.file("fake-mara"))
            try await fakeMara.succeed("init", "--name", Self.cyrillicMara, "--kdf", "interactive")
            try #require(try await fakeMara.join(try await rosa.invite(), admittedBy: rosa).status == 0)
            let fakeRosaDID = try await Self.did(of: fakeRosa), fakeMaraDID = try await Self.did(of: fakeMara)
            try await fakeRosa.succeed("send", CLIWorker.group, Self.lure)
            try await fakeMara.succeed("send", CLIWorker.group, "bring your badge")
            try await rosa.succeed("send", CLIWorker.group, "the real meeting is at the library")

            let flaggedRosa = "Rosa (⚠ look-alike name, \(Self.short(fakeRosaDID))): \(Self.lure)"
            let flaggedMara = "\(Self.cyrillicMara) (⚠ look-alike name, \(Self.short(fakeMaraDID))): bring your badge"
            // Every member sees both impostors' lines flagged with their DID fragment, the copied Rosa and Mara too.
            for worker in [amira, tomasz, rosa, mara] {
                let read = try await worker.succeed("history", "--sync", CLIWorker.group)
                #expect(read.stdout.contains(flaggedRosa), "\(worker.name): \(read)")
                #expect(read.stdout.contains(flaggedMara), "\(worker.name): \(read)")
                #expect(!read.stdout.contains("Rosa: \(Self.lure)"), "\(worker.name): \(read)")
                #expect(read.stdout.contains("WARNING: \(Self.short(fakeRosaDID)) calls itself \"Rosa\""), "\(worker.name): \(read)")
                #expect(read.stdout.contains("WARNING: \(Self.short(fakeMaraDID)) calls itself \"\(Self.cyrillicMara)\""), "\(worker.name): \(read)")
            }
            // Whom each was warned about: Amira, her verified contacts; Rosa and Mara, their own names.
            let amiraSees = try await amira.succeed("history", "--sync", CLIWorker.group).stdout
            #expect(amiraSees.contains("of the name of your verified contact Rosa ✓ (\(Self.short(rosaDID)))"), "\(amiraSees)")
            #expect(amiraSees.contains("of the name of your verified contact Mara ✓ (\(Self.short(maraDID)))"), "\(amiraSees)")
            #expect(amiraSees.contains("Rosa ✓ (\(Self.short(rosaDID))): the real meeting is at the library"), "\(amiraSees)")
            for worker in [rosa, mara] {
                let sees = try await worker.succeed("history", "--sync", CLIWorker.group).stdout
                #expect(sees.contains("a look-alike of your own name: others may take its messages for yours"), "\(worker.name): \(sees)")
            }
            // Tomasz verified no one: both Rosas are flagged, each with its fragment.
            let tomaszSees = try await tomasz.succeed("history", "--sync", CLIWorker.group).stdout
            #expect(tomaszSees.contains("Rosa (⚠ look-alike name, \(Self.short(rosaDID))): the real meeting is at the library"), "\(tomaszSees)")

            // The lists mark them too: members, contacts, the chat screen.
            let members = try await amira.succeed("group", "members", "--sync", CLIWorker.group).stdout
            #expect(members.contains("Rosa ✓ (\(Self.short(rosaDID)))  \(rosaDID)"), "\(members)")
            #expect(members.contains("Rosa (⚠ look-alike name, \(Self.short(fakeRosaDID)))  \(fakeRosaDID)  [not verified, same or look-alike name as \(Self.short(rosaDID))]"), "\(members)")
            #expect(members.contains("\(Self.cyrillicMara) (⚠ look-alike name, \(Self.short(fakeMaraDID)))"), "\(members)")
            let rosaMembers = try await rosa.succeed("group", "members", "--sync", CLIWorker.group).stdout
            #expect(rosaMembers.contains("Rosa  \(rosaDID)  [you, admin, same or look-alike name as \(Self.short(fakeRosaDID))]"), "\(rosaMembers)")
            let contacts = try await amira.succeed("contacts").stdout
            #expect(contacts.contains("Mara ✓ (\(Self.short(maraDID)))") && contacts.contains("\(Self.cyrillicMara) (⚠ look-alike name"), "\(contacts)")
            let chat = try await mara.succeed("chat", CLIWorker.group).stdout
            #expect(chat.contains(flaggedRosa) && chat.contains(flaggedMara), "\(chat)")
            let json = try #require(try await amira.json("history", "--sync", CLIWorker.group) as? [[String: Any]])
            let lure = try #require(json.first { $0["text"] as? String == Self.lure })
            #expect(lure["sender"] as? String == "Rosa" && lure["sender_verified"] as? Bool == false)
            #expect(lure["sender_lookalikes"] as? [String] == [rosaDID].sorted(), "\(lure)")

            // A verified contact is addressable by name; among unverified namesakes a name is refused, listing them.
            try await amira.succeed("send", "Rosa", "is the meeting still on?")
            #expect(try await Self.texts(rosa).contains("is the meeting still on?"))
            #expect(!(try await Self.texts(fakeRosa)).contains("is the meeting still on?"))
            try await amira.succeed("send", "Mara", "see you there")
            #expect(try await Self.texts(mara).contains("see you there"))
            let ambiguous = try await tomasz.run("send", "Rosa", "which one?")
            #expect(ambiguous.status != 0, "\(ambiguous)")
            #expect(ambiguous.stderr.contains("\"Rosa\" could mean any of: ") && ambiguous.stderr.contains("(\(Self.short(rosaDID)))")
                && ambiguous.stderr.contains("(\(Self.short(fakeRosaDID)))"), "\(ambiguous)")
            try await tomasz.succeed("send", Self.short(rosaDID), "by fragment")
            #expect(try await Self.texts(rosa).contains("by fragment"))
        }
    }

    static func did(of worker: CLIWorker) async throws -> String {
        try #require(try await worker.json("whoami") as? [String: Any])["did"] as! String
    }

    /// A DID's fragment as Caucus shows it: the first and last 6 characters of its identifier.
    static func short(_ did: String) -> String {
        let identifier = did.dropFirst("did:key:".count)
        return identifier.prefix(6) + "…" + identifier.suffix(6)
    }

    /// The texts of every message `worker` has now (reading them).
    static func texts(_ worker: CLIWorker) async throws -> [String] {
        try #require(try await worker.json("read") as? [[String: Any]]).compactMap { $0["text"] as? String }
    }
}
