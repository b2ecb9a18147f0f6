import CaucusText
import Testing

@Suite("Confusable names (UTS #39 skeletons, NFKC, case and width folding)")
struct NameComparisonTests {
    @Test("the skeleton follows UTS #39's data: Cyrillic and Greek look-alikes, digits, ligatures")
    func skeleton() {
        #expect(Confusables.dataVersion == "17.0.0")
        #expect(Confusables.skeleton("M\u{430}ra") == Confusables.skeleton("Mara"))
        #expect(Confusables.skeleton("\u{420}\u{43E}s\u{430}") == Confusables.skeleton("Posa"))
        #expect(Confusables.skeleton("0") == "O")
        #expect(Confusables.skeleton("1") == "l" && Confusables.skeleton("I") == "l" && Confusables.skeleton("|") == "l")
        #expect(Confusables.skeleton("m") == "rn")
        #expect(Confusables.skeleton("\u{3BF}") == "o")
        #expect(Confusables.looksLike("\u{FF1A}", ":") && Confusables.looksLike(":", ":") && !Confusables.looksLike("x", ":"))
    }

    @Test("equal names in another case, width or spacing are the same name", arguments: [
        ("Rosa", "rosa"), ("Rosa", "ROSA"), ("Rosa", "\u{FF32}\u{FF4F}\u{FF53}\u{FF41}"), ("Rosa", " Rosa  "),
        ("Amira  Haddad", "amira haddad"), ("Straße", "STRASSE"), ("Rosa", "Ro\u{200B}sa"), ("Rosa", "\u{202E}Rosa"),
        ("José", "Jose\u{301}"), ("Rosa", "R\u{2060}osa\u{FE0F}"),
    ])
    func sameName(_ a: String, _ b: String) {
        #expect(NameComparison.confusable(a, b))
    }

    @Test("look-alike names are confusable", arguments: [
        ("Mara", "M\u{430}ra"), ("Mara", "\u{41C}\u{430}r\u{430}"), ("Rosa", "R\u{43E}s\u{430}"), ("Rosa", "R\u{3BF}sa"),
        ("Iris", "lris"), ("Iris", "1ris"), ("Bob", "B\u{43E}b"), ("Otto", "0tto"), ("Mara", "rnara"), ("Tomasz", "T\u{43E}masz"),
        ("Ali", "A\u{406}i"), ("Rosa", "\u{1D411}\u{1D428}\u{1D42C}\u{1D41A}"),
    ])
    func lookAlikes(_ a: String, _ b: String) {
        #expect(NameComparison.confusable(a, b))
    }

    @Test("different names are not", arguments: [
        ("Rosa", "Rose"), ("Mara", "Maria"), ("Tom", "Tomasz"), ("Amira", "Amir"), ("Ana", "Anna"), ("Rosa", ""), ("Jan", "Ján"),
    ])
    func different(_ a: String, _ b: String) {
        #expect(!NameComparison.confusable(a, b))
    }

    @Test("a name of nothing but invisible characters or spaces has no keys")
    func empty() {
        #expect(NameComparison.keys("\u{200B}\u{3164}  ").isEmpty)
    }
}
