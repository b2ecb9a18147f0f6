import Foundation

/// How two display names are compared (Protocol.md §9.5): equal or confusable names share a key.
public enum NameComparison {
    /// The keys of `name`. Two names are the same or look alike when their keys intersect.
    ///
    /// The name is folded first: NFKC (which folds fullwidth and other compatibility forms), invisible
    /// scalars removed (`TerminalText.isHidden`), every run of white space one space, none at the
    /// ends. The keys are then `skeleton(caseFold(F))` (the same name in another case) and
    /// `skeleton(caseFold(skeleton(F)))` (a look-alike in another case: `Iris` with a capital I and
    /// `lris` with a small L share it, as the skeleton of I is l), where `caseFold` is
    /// lower(upper(·)), as Unicode's full case folding for the letters of names (ß → ss, ς → σ).
    /// An empty name has no keys.
    public static func keys(_ name: some StringProtocol) -> Set<String> {
        let folded = fold(name)
        guard !folded.isEmpty else { return [] }
        let sameName = Confusables.skeleton(caseFold(folded))
        let lookAlike = Confusables.skeleton(caseFold(Confusables.skeleton(folded)))
        return [sameName, lookAlike]
    }

    /// Whether `a` and `b` are the same name or look alike.
    public static func confusable(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
        !keys(a).isDisjoint(with: keys(b))
    }

    /// NFKC, invisible scalars dropped, white space collapsed and trimmed.
    static func fold(_ name: some StringProtocol) -> String {
        var result = String.UnicodeScalarView()
        var pendingSpace = false
        for scalar in String(name).precomposedStringWithCompatibilityMapping.unicodeScalars {
            if scalar.properties.isWhitespace {
                pendingSpace = !result.isEmpty
            } else if !TerminalText.isHidden(scalar) {
                if pendingSpace { result.append(" ") }
                pendingSpace = false
                result.append(scalar)
            }
        }
        return String(result)
    }

    static func caseFold(_ text: String) -> String {
        text.uppercased().lowercased().precomposedStringWithCompatibilityMapping
    }
}
