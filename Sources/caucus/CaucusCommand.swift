import ArgumentParser
import CaucusProtocol

@main
struct CaucusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caucus",
        abstract: "End-to-end encrypted chat and union cards for workers who organize.",
        discussion: """
            Start with `caucus init`, then join a group with the invite an organizer gave you \
            (`caucus join CODE`), or add a relay and create one (`caucus relay add URL`, \
            `caucus group create NAME`). Everything you send is encrypted on this computer; the \
            relay only stores and forwards ciphertext.
            """,
        version: CaucusRelease.versionLine("caucus"),
        subcommands: [
            Init.self, Whoami.self, PassphraseCommand.self, RelayCommand.self, GroupCommand.self, InviteCommand.self, Join.self,
            Send.self, Read.self, History.self, Chat.self, FileCommand.self, Contacts.self, Verify.self, Expire.self, Sync.self,
            CampaignCommand.self, CardCommand.self, CardsCommand.self, AgentCommand.self, Lock.self, DeviceCommand.self,
            PaperKeyCommand.self, Recover.self,
        ]
    )
}
