extension CardTally {
    /// How many cards counted at the end of one day.
    public struct DayCount: Sendable, Equatable, Encodable {
        /// The day, `YYYY-MM-DD` (UTC).
        public let date: String
        /// The cards that counted then (with a unit list, those matched to it).
        public let valid: Int

        public init(date: String, valid: Int) {
            self.date = date
            self.valid = valid
        }
    }

    /// How far back `progress` goes: two years, so that a card that went stale still shows.
    public static let progressDays = 730
    static let dayMilliseconds: UInt64 = 86_400_000

    /// The tally as it stood at the end of each day (UTC), from the day the first card was signed
    /// (at most `progressDays` back) to the tally's own day: the cards signed by then, with the
    /// revocations signed by then and the staleness of that time applied by the rules of
    /// Protocol.md §10.4, counted (with `unitList`, the cards matched to it, §10.7). The last day
    /// is the tally itself, at its own time.
    public func progress(unitList: UnitList? = nil) -> [DayCount] {
        let today = Int(talliedAt / Self.dayMilliseconds)
        let cardDays = history.compactMap { item -> Int? in
            switch item {
            case .card(let candidate), .stale(let candidate): Int(candidate.card.signedAt / Self.dayMilliseconds)
            case .revocation, .rejected: nil
            }
        }
        guard let first = cardDays.min() else { return [] }
        let start = max(min(first, today), today - Self.progressDays)
        // Days on which the count can change: a card or revocation signed, a card going stale.
        var changes = Set<Int>()
        for item in history {
            switch item {
            case .card(let candidate), .stale(let candidate):
                let signedAt = candidate.card.signedAt
                changes.insert(Int(signedAt / Self.dayMilliseconds))
                changes.insert(Int((signedAt + Self.maximumAgeMilliseconds + 1) / Self.dayMilliseconds))
            case .revocation(let revocation): changes.insert(Int(revocation.revokedAt / Self.dayMilliseconds))
            case .rejected: break
            }
        }
        var series: [DayCount] = []
        var last = 0
        for day in start...today {
            if day == start || day == today || changes.contains(day) {
                let asOf = day == today ? talliedAt : UInt64(day + 1) * Self.dayMilliseconds - 1
                let tally = self.asOf(asOf, last: day == today)
                last = unitList?.coverage(of: tally.valid).matched.count ?? tally.valid.count
            }
            series.append(DayCount(date: CardFields.utcDate(UInt64(day) * Self.dayMilliseconds), valid: last))
        }
        return series
    }

    /// The tally of the items signed by `time` (all of them when `last`), at `time`.
    func asOf(_ time: UInt64, last: Bool) -> CardTally {
        let screened = history.compactMap { item -> Screened? in
            switch item {
            case .card(let candidate), .stale(let candidate):
                let signedAt = candidate.card.signedAt
                guard last || signedAt <= time else { return nil }
                return time > signedAt && time - signedAt > Self.maximumAgeMilliseconds ? nil : .card(candidate)
            case .revocation(let revocation): return last || revocation.revokedAt <= time ? item : nil
            case .rejected: return nil
            }
        }
        return CardTally(campaign: campaign, screened: screened, unitSize: unitSize, now: time)
    }
}
