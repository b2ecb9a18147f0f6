import ArgumentParser
import CaucusClient
import CaucusCrypto
import CaucusText
import Foundation

extension CardsCommand {
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The organizer's report: how far from 30 % and a majority, who has not signed (by department), progress by day.",
            discussion: """
                It reads the campaign's inbox as `cards tally` does and sends nothing. --html writes one self-contained page to \
                read offline and print (no script, nothing loaded from anywhere); --csv the people on the unit list without a \
                valid card. Both files hold personal data and are written readable by you only (mode 0600).
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The campaign's short hash or its group.") var campaign: String
        @Option(name: .long, help: ArgumentHelp("A CSV of the unit's employees (name, then optionally email; a header row may name department and shift columns).", valueName: "file"))
        var unitList: String?
        @Option(name: .long, help: ArgumentHelp("Write the report as an HTML page to this file.", valueName: "file")) var html: String?
        @Option(name: .long, help: ArgumentHelp("Write those on the unit list without a valid card as a CSV to this file.", valueName: "file"))
        var csv: String?
        @Flag(name: .long, help: "Also show each signer's DID.") var did = false

        func validate() throws {
            if csv != nil && unitList == nil { throw ValidationError("--csv lists who on the unit list has not signed: give --unit-list FILE too") }
        }

        func run() async throws {
            let list = try UnitListOption.read(unitList)?.list
            try await withAccount(global) { account in
                let report = try await account.report(campaign, unitList: list, dids: did, progress: Console.progress("reading cards"))
                if let html { try await PrivateFile.write(Array(report.html().utf8), to: html) }
                if let csv, let text = report.notSignedCSV() { try await PrivateFile.write(Array(text.utf8), to: csv) }
                if output.json {
                    printJSON(try JSONSerialization.jsonObject(with: report.json()))
                } else {
                    for line in ReportText.summary(report) { say(line) }
                }
                if let warning = list.flatMap({ UnitListOption.sizeWarning($0, report.campaign.unitSize) }) {
                    say("warning: \(warning)", beside: output)
                }
                for (path, what) in [(html, "the report"), (csv, "the list of who has not signed")] {
                    guard let path else { continue }
                    say("Wrote \(what) to \(path) (readable by you only). It holds personal data: keep it private and delete it when done.",
                        beside: output)
                }
            }
        }
    }
}

/// Any Encodable as `printJSON` takes it, with the keys `CampaignReport.json` writes.
func jsonValue(_ value: some Encodable) throws -> Any {
    try JSONSerialization.jsonObject(with: CampaignReport.json(value), options: .fragmentsAllowed)
}

/// The report's lines for a terminal: every text from a card or a unit list passes the sanitiser.
enum ReportText {
    /// The count against the unit, and each threshold: reached, or how many more cards it takes.
    static func headline(_ report: CampaignReport) -> [TerminalLine] {
        let percent = String(format: "%.1f", report.share * 100)
        let first: TerminalLine = report.notSigned == nil
            ? "\(report.counted) valid cards of a unit of \(report.unitSize): \(percent)%"
            : "\(report.counted) valid cards match the unit list of \(report.unitSize): \(percent)%"
        func state(_ threshold: CampaignReport.Threshold) -> TerminalLine {
            let cards: TerminalLine = threshold.cards == 1 ? "1 card" : "\(threshold.cards) cards"
            return threshold.reached ? "reached (\(cards))" : "not yet: \(threshold.more) more valid card\(threshold.more == 1 ? "" : "s") (of \(cards))"
        }
        return [first, "  30% for an election petition: \(state(report.petition))",
                "  majority for a recognition demand: \(state(report.majority))"]
    }

    /// A signer by name, date, department and shift, and DID when asked for.
    static func signer(_ signer: CampaignReport.Signer) -> TerminalLine {
        var line: TerminalLine = "\(signer.name), signed \(signer.date)"
        let unit = [signer.department, signer.shift].compactMap { $0 }
        if !unit.isEmpty { line = "\(line) (\(unit.joined(separator: ", ")))" }
        if let did = signer.did { line = "\(line)  \(did)" }
        return line
    }

    /// A rejected item by the name on it, and why.
    static func rejected(_ item: CampaignReport.Rejected) -> TerminalLine {
        let who: TerminalLine = switch (item.kind, item.name) {
        case ("revocation", let name?): "revocation by \(name)"
        case ("revocation", nil): "a revocation"
        case (_, let name?): "card of \(name)"
        default: "an unreadable item"
        }
        let did: TerminalLine = item.did.map { "  \($0)" } ?? ""
        return "\(who)\(did): \(item.reason)"
    }

    /// What `cards report` prints without --json: the headline, who has not signed by department,
    /// departments and shifts, and the last days of progress.
    static func summary(_ report: CampaignReport) -> [TerminalLine] {
        var lines = headline(report)
        if let groups = report.groups {
            lines.append("by department and shift (signed of listed):")
            for group in groups {
                lines.append("  \(group.department ?? "no department"), \(group.shift ?? "no shift"): \(group.signed) of \(group.listed)")
            }
        }
        if let notSigned = report.notSigned {
            lines.append("not yet signed (\(notSigned.count)):")
            var department: String?? = .none
            for person in notSigned {
                if department != .some(person.department) {
                    department = .some(person.department)
                    lines.append("  \(person.department ?? "no department"):")
                }
                let shift: TerminalLine = person.shift.map { " (\($0))" } ?? ""
                lines.append("    \(person.name)\(shift)")
            }
        }
        if !report.progress.isEmpty {
            lines.append("valid cards by day (last 7 days):")
            for day in report.progress.suffix(7) { lines.append("  \(day.date)  \(day.valid)") }
        }
        if !report.rejected.isEmpty { lines.append("\(report.rejected.count) not counted (`caucus cards tally` names them)") }
        return lines
    }
}
