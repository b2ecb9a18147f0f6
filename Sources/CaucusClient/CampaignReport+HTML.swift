import CaucusCrypto
import CaucusText
import Foundation

extension CampaignReport {
    /// The report as one self-contained HTML page to read offline and print (`caucus cards report
    /// --html`): the headline figures, an inline SVG chart of the count by day with the 30 % and
    /// majority lines, the unit list by department and shift, who has not signed, who has, and
    /// what was rejected. It loads nothing from anywhere and runs no script (its Content Security
    /// Policy forbids both), and every text in it passes `ReportHTML.text`. Figures a program may
    /// read carry `data-figure` attributes; the chart's points `data-date` and `data-valid`.
    public func html() -> String {
        let title = "Card campaign: \(campaign.union) at \(campaign.employer)"
        var page = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
            <meta name="referrer" content="no-referrer">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(ReportHTML.text(title))</title>
            <style>\(ReportHTML.style)</style>
            </head>
            <body>
            <header>
            <h1>\(ReportHTML.text(title))</h1>
            <p class="meta">Unit: \(ReportHTML.text(campaign.unit)) · campaign \(ReportHTML.text(campaign.id)) · tallied \
            <span data-figure="tallied_on">\(talliedOn)</span> (UTC)</p>
            <p class="private">This page holds personal data: the names on the cards\(notSigned == nil ? "" : " and who has not signed"). \
            Keep it private, do not send it over a channel the employer can read, and delete it when done.</p>
            </header>

            """
        page += headline() + chart() + groupsTable() + notSignedList() + signersTable() + rejectedList()
        page += "<footer>Made by <code>caucus cards report</code>. Cards count by the rules of Protocol.md §10.4"
        page += notSigned == nil ? "." : ", matched to the unit list by §10.7."
        page += "</footer>\n</body>\n</html>\n"
        return page
    }

    func headline() -> String {
        let percent = String(format: "%.1f", share * 100)
        var out = """
            <section id="headline">
            <p class="big"><span data-figure="counted">\(counted)</span> valid cards \
            \(notSigned == nil ? "of a unit of" : "match the unit list of") <span data-figure="unit_size">\(unitSize)</span>: \
            <span data-figure="share_percent">\(percent)</span> %</p>

            """
        for (name, key, threshold) in [("30 % for an election petition", "petition", petition),
                                        ("a majority for a recognition demand", "majority", majority)] {
            let state = threshold.reached
                ? "<strong class=\"reached\">reached</strong>"
                : "<strong class=\"short\"><span data-figure=\"\(key)_more\">\(threshold.more)</span> more valid cards needed</strong>"
            out += "<p class=\"threshold \(key)\">\(name): <span data-figure=\"\(key)_cards\">\(threshold.cards)</span> card\(threshold.cards == 1 ? "" : "s") — \(state)</p>\n"
        }
        if let unmatched, !unmatched.isEmpty {
            out += "<p><span data-figure=\"unmatched\">\(unmatched.count)</span> valid card(s) match no one on the unit list and count toward nothing (listed below).</p>\n"
        }
        return out + "</section>\n"
    }

    func chart() -> String {
        var out = "<section id=\"progress\">\n<h2>Valid cards by day</h2>\n"
        guard let first = progress.first, let last = progress.last else {
            return out + "<p>No card has been signed yet.</p>\n</section>\n"
        }
        let width = 720.0, height = 280.0, left = 48.0, right = 150.0, top = 16.0, bottom = 36.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let highest = Double(max(majority.cards, UInt64(progress.map(\.valid).max() ?? 0), 1))
        func x(_ index: Int) -> String { ReportHTML.number(left + (progress.count == 1 ? plotWidth / 2 : plotWidth * Double(index) / Double(progress.count - 1))) }
        func y(_ value: Double) -> String { ReportHTML.number(top + plotHeight - plotHeight * value / highest) }
        out += """
            <svg id="progress-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(height))" \
            role="img" aria-label="Valid cards by day from \(first.date) to \(last.date)">
            <line class="axis" x1="\(ReportHTML.number(left))" y1="\(y(0))" x2="\(ReportHTML.number(left + plotWidth))" y2="\(y(0))"/>
            <line class="axis" x1="\(ReportHTML.number(left))" y1="\(y(0))" x2="\(ReportHTML.number(left))" y2="\(ReportHTML.number(top))"/>
            <text x="\(ReportHTML.number(left - 6))" y="\(y(0))" text-anchor="end">0</text>
            <text x="\(x(0))" y="\(ReportHTML.number(height - 12))" text-anchor="\(progress.count == 1 ? "middle" : "start")">\(first.date)</text>

            """
        if progress.count > 1 {
            out += "<text x=\"\(x(progress.count - 1))\" y=\"\(ReportHTML.number(height - 12))\" text-anchor=\"end\">\(last.date)</text>\n"
        }
        for (key, label, threshold) in [("petition", "30 %", petition), ("majority", "majority", majority)] {
            let level = y(Double(threshold.cards))
            out += """
                <line class="threshold \(key)" data-threshold="\(key)" data-cards="\(threshold.cards)" x1="\(ReportHTML.number(left))" \
                y1="\(level)" x2="\(ReportHTML.number(left + plotWidth))" y2="\(level)"/>
                <text class="threshold-label \(key)" x="\(ReportHTML.number(left + plotWidth + 6))" y="\(level)" dy="4">\(label): \(threshold.cards)</text>

                """
        }
        let points = progress.indices.map { "\(x($0)),\(y(Double(progress[$0].valid)))" }.joined(separator: " ")
        out += "<polyline id=\"valid-cards\" points=\"\(points)\"/>\n"
        for (index, day) in progress.enumerated() {
            out += "<circle class=\"point\" data-date=\"\(day.date)\" data-valid=\"\(day.valid)\" cx=\"\(x(index))\" cy=\"\(y(Double(day.valid)))\" r=\"2.5\"><title>\(day.date): \(day.valid)</title></circle>\n"
        }
        out += "</svg>\n<p class=\"note\">Each day's count applies the revocations signed by then and leaves out cards more than 12 months old then.</p>\n"
        return out + "</section>\n"
    }

    func groupsTable() -> String {
        guard let groups else { return "" }
        var out = "<section id=\"groups\">\n<h2>By department and shift</h2>\n<table>\n"
        out += "<thead><tr><th>Department</th><th>Shift</th><th class=\"n\">On the list</th><th class=\"n\">Signed</th><th class=\"n\">Not yet</th><th class=\"n\">Share</th></tr></thead>\n<tbody>\n"
        for group in groups {
            let percent = group.listed == 0 ? "0" : String(format: "%.0f", Double(group.signed) * 100 / Double(group.listed))
            out += "<tr class=\"group\"><td>\(ReportHTML.text(group.department ?? "—"))</td><td>\(ReportHTML.text(group.shift ?? "—"))</td>"
            out += "<td class=\"n\" data-figure=\"listed\">\(group.listed)</td><td class=\"n\" data-figure=\"signed\">\(group.signed)</td>"
            out += "<td class=\"n\" data-figure=\"not_signed\">\(group.notSigned)</td><td class=\"n\">\(percent) %</td></tr>\n"
        }
        return out + "</tbody>\n</table>\n</section>\n"
    }

    func notSignedList() -> String {
        guard let notSigned else { return "" }
        var out = "<section id=\"not-signed\">\n<h2>Not yet signed: <span data-figure=\"not_signed\">\(notSigned.count)</span></h2>\n"
        if notSigned.isEmpty { return out + "<p>Everyone on the unit list has a valid card.</p>\n</section>\n" }
        var department: String?? = .none
        for person in notSigned {
            if department != .some(person.department) {
                if department != nil { out += "</tbody></table>\n" }
                department = .some(person.department)
                out += "<h3>\(ReportHTML.text(person.department ?? "No department"))</h3>\n"
                out += "<table><thead><tr><th>Name</th><th>Contact</th><th>Shift</th><th>Other</th></tr></thead><tbody>\n"
            }
            let other = person.other.map { "\($0.column): \($0.value)" }.joined(separator: "; ")
            out += "<tr class=\"person\"><td class=\"name\">\(ReportHTML.text(person.name))</td><td>\(ReportHTML.text(person.contact ?? ""))</td>"
            out += "<td>\(ReportHTML.text(person.shift ?? ""))</td><td>\(ReportHTML.text(other))</td></tr>\n"
        }
        return out + "</tbody></table>\n</section>\n"
    }

    func signersTable() -> String {
        var out = "<section id=\"signers\">\n<h2>Signed: <span data-figure=\"signers\">\(signers.count)</span></h2>\n"
        out += signerRows(signers)
        if let unmatched, !unmatched.isEmpty {
            out += "<h3>Valid cards that match no one on the unit list</h3>\n<div id=\"unmatched\">\n\(signerRows(unmatched))</div>\n"
        }
        return out + "</section>\n"
    }

    func signerRows(_ rows: [Signer]) -> String {
        guard !rows.isEmpty else { return "<p>None.</p>\n" }
        let dids = rows.contains { $0.did != nil }, units = rows.contains { $0.department != nil || $0.shift != nil }
        var out = "<table><thead><tr><th>Name on the card</th><th>Date signed</th>"
        out += (units ? "<th>Department</th><th>Shift</th>" : "") + (dids ? "<th>DID</th>" : "") + "</tr></thead><tbody>\n"
        for signer in rows {
            out += "<tr class=\"signer\"><td class=\"name\">\(ReportHTML.text(signer.name))</td><td>\(ReportHTML.text(signer.date))</td>"
            if units { out += "<td>\(ReportHTML.text(signer.department ?? ""))</td><td>\(ReportHTML.text(signer.shift ?? ""))</td>" }
            if dids { out += "<td class=\"did\">\(ReportHTML.text(signer.did ?? ""))</td>" }
            out += "</tr>\n"
        }
        return out + "</tbody></table>\n"
    }

    func rejectedList() -> String {
        var out = "<section id=\"rejected\">\n<h2>Not counted: <span data-figure=\"rejected\">\(rejected.count)</span></h2>\n"
        if rejected.isEmpty { return out + "<p>Every item in the inbox counted.</p>\n</section>\n" }
        for reason in rejections.keys.sorted() {
            let items = rejected.filter { $0.reason == reason }
            out += "<h3>\(ReportHTML.text(reason)): \(items.count)</h3>\n<ul>\n"
            for item in items {
                var line = ReportHTML.text(item.name ?? (item.kind == "unreadable" ? "an unreadable item" : "no name known"))
                if item.kind == "revocation" { line = "revocation by " + line }
                if let date = item.date { line += " (card dated \(ReportHTML.text(date)))" }
                if let did = item.did { line += " <span class=\"did\">\(ReportHTML.text(did))</span>" }
                out += "<li class=\"rejected-item\">\(line)</li>\n"
            }
            out += "</ul>\n"
        }
        return out + "</section>\n"
    }
}

/// Text for the report's HTML.
public enum ReportHTML {
    /// `value` made safe anywhere in an HTML document, in text or a quoted attribute: hidden
    /// characters (controls, bidirectional and invisible ones) shown as `<U+XXXX>` as on a
    /// terminal (`TerminalText.visible`), then `&`, `<`, `>`, `"` and `'` written as references.
    public static func text(_ value: String) -> String {
        var out = ""
        for scalar in TerminalText.visible(value).unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A coordinate with at most one decimal.
    static func number(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    static let style = """
        body { font: 15px/1.45 system-ui, sans-serif; color: #111; margin: 2em auto; max-width: 56em; padding: 0 1em; }
        h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; } h3 { margin-bottom: .3em; }
        .meta { color: #444; } .private { background: #fff4d6; border: 1px solid #e0b84c; padding: .4em .7em; }
        .big { font-size: 1.6em; margin: .3em 0; } .reached { color: #116b2e; } .short { color: #a33; }
        table { border-collapse: collapse; width: 100%; margin: .4em 0 1em; } th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #ddd; }
        td.n, th.n { text-align: right; } .did { font-family: monospace; font-size: .85em; word-break: break-all; }
        svg { width: 100%; height: auto; max-width: 720px; } svg text { font-size: 11px; fill: #333; }
        .axis { stroke: #555; } polyline { fill: none; stroke: #1a56a8; stroke-width: 2; } circle.point { fill: #1a56a8; }
        line.threshold { stroke-width: 1.5; stroke-dasharray: 6 4; } line.petition { stroke: #c77700; } line.majority { stroke: #a33; }
        .note, footer { color: #555; font-size: .9em; } footer { margin-top: 2em; border-top: 1px solid #ccc; padding-top: .5em; }
        @media print { body { margin: 0; max-width: none; font-size: 11pt; } section { break-inside: avoid-page; } .private { border-color: #000; } }
        @page { margin: 15mm; }
        """
}
