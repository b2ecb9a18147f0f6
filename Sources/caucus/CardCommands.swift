import ArgumentParser
import CaucusClient
import CaucusCrypto
import CaucusText
import Foundation

struct CampaignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign", abstract: "Start and list union card campaigns.", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a card campaign in a group (admins): the record is signed by you and shared with the group.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The group whose members may sign.") var group: String
        @Option(name: .long, help: "The union the cards authorize.") var union: String
        @Option(name: .long, help: "The employer's name, exactly as it goes on every card.") var employer: String
        @Option(name: .long, help: "The bargaining unit, in words.") var unit: String
        @Option(name: .long, help: "How many employees are in the unit.") var unitSize: UInt64
        @Option(name: .long, help: ArgumentHelp("A file holding the exact card language.", valueName: "file")) var languageFile: String

        func run() async throws {
            guard let language = try? String(contentsOfFile: languageFile, encoding: .utf8) else {
                throw ValidationError("cannot read the card language from \(languageFile)")
            }
            try await withAccount(global) { account in
                let summary = try await account.createCampaign(
                    in: group, union: union, employer: employer, unitDescription: unit, unitSize: unitSize,
                    language: language.trimmingCharacters(in: .whitespacesAndNewlines))
                if output.json { printJSON(["id": summary.shortID, "group": summary.groupName]) } else {
                    say("Campaign \(summary.shortID) announced to \(summary.groupName). Members sign with `caucus card sign \(summary.shortID)`;")
                    say("you (and the group's other admins) tally with `caucus cards tally \(summary.shortID)` and send the signers their")
                    say("receipts with `caucus cards receipts \(summary.shortID)`.")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the campaigns of your groups.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var syncing: SyncOption

        func run() async throws {
            try await withAccount(global) { account in
                await syncing.apply(account)
                let campaigns = try await account.campaigns()
                if output.json {
                    printJSON(campaigns.map(\.json))
                } else if campaigns.isEmpty {
                    say("No card campaigns in your groups.")
                } else {
                    for summary in campaigns {
                        say("\(summary.shortID)  \(summary.campaign.union) at \(summary.campaign.employer), unit of \(summary.campaign.unitSize), in \(summary.groupName)\(summary.isOrganizer ? "  [organizer]" : "")")
                    }
                }
            }
        }
    }
}

struct CardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "card", abstract: "Sign or revoke your union authorization card.", subcommands: [Sign.self, Revoke.self, Status.self])

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a campaign's card, fill in the six fields the labor board requires, and sign it.",
            discussion: "The card is signed with your identity key and sealed so that only the campaign's organizers can read it. Never enter a date of birth or a social security number.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The campaign's short hash (the 8 hex digits `caucus campaign list` shows) or its group.") var campaign: String
        @Option(name: .long, help: "Your name.") var name: String?
        @Option(name: .long, help: "Your email or another way to reach you.") var contact: String?
        @Option(name: .long, help: "Your phone number.") var phone: String?
        @Flag(name: .long, help: "Sign without asking for confirmation (scripts).") var yes = false

        func run() async throws {
            try await withAccount(global) { account in
                _ = try? await account.sync()
                let summary = try await account.findCampaign(campaign)
                let date = Self.today()
                let replaced = try await account.standingCards(summary.campaign)
                // With --json, stdout holds the one JSON document: the card's text goes to stderr.
                say("Union authorization card for \(summary.campaign.union)", beside: output)
                say("Employer: \(summary.campaign.employer)", beside: output)
                say("Unit: \(summary.campaign.unitDescription)\n", beside: output)
                say(.block("  ", summary.campaign.language), beside: output)
                say("", beside: output)
                if let last = replaced.last {
                    let line: TerminalLine = "You signed a card for this campaign on \(last.fields.date); the organizers count only your newest card, so this one replaces it."
                    say(line, beside: output)
                }
                let name = try self.name ?? Self.ask("Your name: ")
                let contact = try self.contact ?? Self.ask("Your email or other contact: ")
                let phone = try self.phone ?? Self.ask("Your phone: ")
                say("Date signed: \(date)", beside: output)
                if !yes {
                    guard try Prompt.line("Sign this card with your name, contact and phone above? Type yes to sign: ")?.lowercased() == "yes" else {
                        say("Not signed.")
                        return
                    }
                }
                let card = try await account.signCard(summary.shortID, name: name, contact: contact, phone: phone, date: date)
                if output.json {
                    printJSON(["signed": true, "campaign": summary.shortID, "card": Hex.encode(card.hash),
                               "replaces": replaced.map { Hex.encode($0.hash) }] as [String: Any])
                } else {
                    say("Signed and sent, sealed for the organizers only. `caucus card status \(summary.shortID)` shows it.")
                }
            }
        }

        static func ask(_ prompt: String) throws -> String {
            guard let answer = try Prompt.line(prompt), !answer.isEmpty else { throw ValidationError("no answer; nothing was signed") }
            return answer
        }

        static func today() -> String {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "yyyy-MM-dd"
            return formatter.string(from: Date())
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Withdraw your card (a signed revocation, sealed like the card).",
            discussion: "It withdraws every card you signed for the campaign so far; a card you sign later counts again.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The campaign's short hash or its group.") var campaign: String
        @Flag(name: .long, help: "Withdraw without asking for confirmation (scripts).") var yes = false

        func run() async throws {
            try await withAccount(global) { account in
                _ = try? await account.sync()
                let summary = try await account.findCampaign(campaign)
                let standing = try await account.standingCards(summary.campaign)
                guard !standing.isEmpty else { throw ClientError.invalidArgument("you have no card to withdraw for this campaign") }
                let cards: TerminalLine = standing.count == 1 ? "your card" : "all \(standing.count) of your cards"
                say("This withdraws \(cards) for \(summary.campaign.union):", beside: output)
                for card in standing {
                    say("  signed \(card.fields.date) as \(card.fields.name) (\(card.fields.contact))", beside: output)
                }
                if !yes {
                    let them = standing.count == 1 ? "it" : "them"
                    guard try Prompt.line("Withdraw \(them)? Type yes to withdraw: ")?.lowercased() == "yes" else {
                        say("Nothing withdrawn.", beside: output)
                        return
                    }
                }
                let (revocation, withdrawn) = try await account.revokeCard(summary.shortID)
                if output.json {
                    printJSON(["revoked": true, "campaign": summary.shortID, "revocation_names": Hex.encode(revocation.card),
                               "withdrawn": withdrawn.map { Hex.encode($0.hash) }] as [String: Any])
                } else {
                    let them = withdrawn.count == 1 ? "it" : "any of them"
                    say("Withdrawn: the organizers' tally no longer counts \(them). They acknowledge it with a receipt when they next send receipts;")
                    say("`caucus card status \(summary.shortID)` shows it.")
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the cards and revocations you signed for a campaign.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var syncing: SyncOption
        @Argument(help: "The campaign's short hash or its group.") var campaign: String

        func run() async throws {
            try await withAccount(global) { account in
                await syncing.apply(account)
                let summary = try await account.findCampaign(campaign)
                let status = try await account.cardStatus(summary.campaign)
                let (items, standings) = (status.items, status.standings)
                func when(_ milliseconds: UInt64) -> String {
                    Date(timeIntervalSince1970: Double(milliseconds) / 1000).formatted(date: .abbreviated, time: .shortened)
                }
                if output.json {
                    printJSON(status.json)
                } else if items.isEmpty {
                    say("You have not signed a card for \(summary.shortID).")
                } else {
                    for item in items {
                        switch item {
                        case .card(let card):
                            say("card signed \(card.fields.date) as \(card.fields.name) (\(card.fields.contact), \(card.fields.phone))")
                            if let receipt = status.receipt(for: card) {
                                say("  receipt from the organizers, \(when(receipt.receivedAt)), signed by the campaign's card key, confirming:")
                                for (field, value) in receipt.fields.named { say("    \(field): \(value)") }
                            } else {
                                say("  no receipt yet (the organizers send one when they next send receipts)")
                            }
                            if let standing = standings[card.hash] {
                                let tally = "the organizers' tally of \(CardFields.utcDate(standing.statement.talliedAt)) "
                                    + "(\(standing.statement.counted) cards; their statement signed with the card key and a Merkle proof, both checked)"
                                say(standing.finding == .counted ? "  counted in \(tally)" : "  NOT counted in \(tally)")
                            } else {
                                say("  no tally proof yet (the organizers send one with their next receipts)")
                            }
                        case .revocation(let revocation):
                            say("card withdrawn \(when(revocation.revokedAt))")
                            if let receipt = status.acknowledgement(of: revocation) {
                                say("  the organizers acknowledged it \(when(receipt.receivedAt)), signed by the campaign's card key")
                            } else {
                                say("  not acknowledged yet (the organizers send an acknowledgement when they next send receipts)")
                            }
                        }
                        if status.waiting.contains(item) {
                            say("  NOT POSTED YET: kept on this computer, it goes to the relay the next time caucus connects (`caucus sync`)")
                        }
                    }
                }
            }
        }
    }
}

struct CardsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cards", abstract: "Tally, export and verify a campaign's cards, and send the signers their receipts (organizers).",
        subcommands: [Tally.self, Report.self, Export.self, Receipts.self, VerifyBundle.self])

    struct Tally: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open and check every card and revocation, and count the unit.",
            discussion: "It only reads the campaign's inbox: it sends nothing (receipts go out with `caucus cards receipts`).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The campaign's short hash or its group.") var campaign: String
        @Option(name: .long, help: ArgumentHelp("A CSV of the unit's employees (name, then optionally email): the unit size comes from it and cards are matched to it.", valueName: "file"))
        var unitList: String?

        @Flag(name: .long, help: "Also show each signer's DID.") var did = false

        func run() async throws {
            let list = try UnitListOption.read(unitList)?.list
            try await withAccount(global) { account in
                let report = try await account.report(campaign, unitList: list, dids: did, byDay: false,
                                                      progress: Console.progress("reading cards"))
                let sizeWarning = list.flatMap { UnitListOption.sizeWarning($0, report.campaign.unitSize) }
                if output.json {
                    var object: [String: Any] = [
                        "valid": report.valid, "counted": report.counted, "unit_size": report.unitSize, "share": report.share,
                        "petition_30_percent": report.petition.reached, "majority": report.majority.reached,
                        "more_for_petition": report.petition.more, "more_for_majority": report.majority.more,
                        "rejected": report.rejected.count, "rejections": report.rejections,
                        "signers": try jsonValue(report.signers), "rejected_items": try jsonValue(report.rejected)]
                    if let notSigned = report.notSigned, let unmatched = report.unmatched {
                        object["unit_list"] = ["matched": report.counted, "unmatched": unmatched.count, "missing": notSigned.count,
                                               "share": report.share, "campaign_unit_size": report.campaign.unitSize,
                                               "unmatched_signers": try jsonValue(unmatched)]
                    }
                    if let sizeWarning { Console.warn(sizeWarning) }
                    printJSON(object)
                    return
                }
                for line in ReportText.headline(report) { say(line) }
                if let sizeWarning { say("  warning: \(sizeWarning)") }
                if let notSigned = report.notSigned {
                    say("unit list: \(notSigned.count) of \(report.unitSize) employees without a valid card (`caucus cards report` lists them)")
                }
                say("signed (\(report.signers.count)):")
                for signer in report.signers { say("  \(ReportText.signer(signer))") }
                if let unmatched = report.unmatched, !unmatched.isEmpty {
                    say("\(unmatched.count) valid card(s) match no one on the list and are not counted toward it:")
                    for signer in unmatched { say("  \(ReportText.signer(signer))") }
                }
                if !report.rejected.isEmpty {
                    say("\(report.rejected.count) not counted:")
                    for item in report.rejected { say("  \(ReportText.rejected(item))") }
                }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the counted cards as a CSV for the filing and as an evidence bundle anyone can verify.",
            discussion: "It only reads the campaign's inbox: it sends nothing (receipts go out with `caucus cards receipts`).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The campaign's short hash or its group.") var campaign: String
        @Option(name: .long, help: "Where to write the CSV of the six fields.") var csv: String
        @Option(name: .long, help: "Where to write the evidence bundle (JSON, Protocol.md §10.5).") var bundle: String
        @Option(name: .long, help: ArgumentHelp("The unit list the tally used (as for `cards tally`): only cards matched to it are written, counted against its size.", valueName: "file"))
        var unitList: String?

        func run() async throws {
            let list = try UnitListOption.read(unitList)
            try await withAccount(global) { account in
                let tally = try await account.tally(campaign, unitSize: list.map { UInt64($0.list.employees.count) })
                let cards = EvidenceBundle.ordered(list?.list.coverage(of: tally).matched ?? tally.valid)
                let evidence = try await account.evidence(for: tally, counting: cards, unitList: list?.hash)
                try FilingCSV.text(cards).write(toFile: csv, atomically: true, encoding: .utf8)
                try Data(evidence.json()).write(to: URL(fileURLWithPath: bundle), options: .atomic)
                for path in [csv, bundle] { chmod(path, 0o600) }
                if let list, let warning = UnitListOption.sizeWarning(list.list, tally.campaign.unitSize) { say("warning: \(warning)") }
                let against: TerminalLine = list == nil ? "" : " (those matched to the unit list of \(tally.unitSize))"
                say("Wrote \(cards.count) cards\(against) to \(csv) and the evidence bundle to \(bundle).")
            }
        }
    }

    struct Receipts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send each counted card's signer a receipt and acknowledge each withdrawal, once.",
            discussion: """
                Reads and tallies the inbox, records which receipts are due, and sends those not sent before. A signer \
                whose prekeys are not on the relay yet (they never connected) waits: run it again later.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The campaign's short hash or its group.") var campaign: String

        func run() async throws {
            try await withAccount(global) { account in
                let report = try await account.sendReceipts(campaign, progress: Console.progress("reading cards"))
                if output.json {
                    printJSON(["sent": report.sent, "already_sent": report.alreadySent, "waiting": report.waiting,
                               "waiting_no_prekeys": report.waitingForPrekeys, "waiting_relay_unreachable": report.waitingForRelay,
                               "waiting_bad_prekeys": report.waitingForValidPrekeys, "still_queued": report.stillQueued,
                               "tally_proofs_sent": report.proofsSent, "tally_proofs_waiting": report.proofsWaiting])
                } else {
                    say(Self.summary(report, campaign: campaign))
                }
            }
        }

        /// The one line `cards receipts` prints.
        static func summary(_ report: Account.ReceiptReport, campaign: String) -> TerminalLine {
            var line = "Sent \(report.sent) receipt\(report.sent == 1 ? "" : "s")"
            if report.alreadySent > 0 { line += " (\(report.alreadySent) sent before)" }
            if report.waiting > 0 {
                let reasons = [(report.waitingForPrekeys, "no prekeys on the relay yet"), (report.waitingForRelay, "relay unreachable"),
                               (report.waitingForValidPrekeys, "prekeys that do not verify")]
                    .filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
                line += "; \(report.waiting) wait for their signers (\(reasons.joined(separator: ", "))): run `caucus cards receipts \(campaign)` again later"
            }
            if report.proofsSent > 0 || report.proofsWaiting > 0 {
                line += "; sent \(report.proofsSent) tally proof\(report.proofsSent == 1 ? "" : "s") (each signer's check that their card counts)"
                if report.proofsWaiting > 0 { line += ", \(report.proofsWaiting) waiting" }
            }
            if report.stillQueued > 0 { line += "; \(report.stillQueued) message(s) wait in the outbox for the relay" }
            return "\(line)."
        }
    }

    struct VerifyBundle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "verify", abstract: "Check an evidence bundle offline.")
        @OptionGroup var output: OutputOptions
        @Argument(help: "The bundle (JSON).") var path: String
        @Option(name: .long, help: ArgumentHelp("The unit list filed with the bundle: its hash must be the statement's.", valueName: "file"))
        var unitList: String?

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            let bundle = try EvidenceBundle(json: Array(data))
            var result = try bundle.verify()
            if let list = try UnitListOption.read(unitList), Hex.encode(list.hash) != bundle.statement.unitListHash {
                result.statementProblems.append("statement.unit_list_hash: not the hash of \(unitList ?? "")")
            }
            if output.json {
                printJSON(["valid": result.validCards, "failures": result.failures.map { ["index": $0.index, "reason": $0.reason] as [String: Any] },
                           "statement_problems": result.statementProblems, "verified": result.holds,
                           "petition_30_percent": result.reachesPetition, "majority": result.reachesMajority])
            } else {
                say("campaign record: signed by \(bundle.campaign.organizer)")
                if result.statementProblems.isEmpty {
                    say("tally statement: signed with the card key; it covers exactly these \(bundle.cards.count) cards")
                }
                for problem in result.statementProblems { say("  \(problem)") }
                say("\(result.validCards) of \(bundle.cards.count) cards verify (unit of \(bundle.countedUnitSize))")
                for failure in result.failures { say("  card \(failure.index): \(failure.reason)") }
            }
            if !result.holds { throw ExitCode(1) }
        }
    }
}

/// `--unit-list FILE` of `cards tally` and `cards export`.
enum UnitListOption {
    /// The list in the file, and BLAKE2b-256 of the file's bytes (what a tally statement names).
    static func read(_ path: String?) throws -> (list: UnitList, hash: [UInt8])? {
        try path.map { path in
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
            else { throw ValidationError("cannot read \(path) as UTF-8 text") }
            return (try UnitList(csv: text), try BLAKE2b.hash(Array(data)))
        }
    }

    /// What to say when the list's size differs from the unit size the campaign states.
    static func sizeWarning(_ list: UnitList, _ unitSize: UInt64) -> String? {
        guard UInt64(list.employees.count) != unitSize else { return nil }
        return "the unit list has \(list.employees.count) people; the campaign states a unit of \(unitSize)"
    }
}
