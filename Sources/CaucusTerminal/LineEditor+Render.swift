import CaucusText
extension LineEditor {
    /// The bytes that redraw the prompt and line in place on a terminal `width` columns wide: return to the
    /// first column, clear the row, write what fits, then step the cursor back to where it belongs.
    ///
    /// When prompt and text are wider than the row they scroll horizontally so that the cursor stays in view;
    /// the last column stays empty so the terminal never wraps.
    public func render(prompt: String, width: Int) -> String {
        let cells = Array(prompt) + characters
        let columns = cells.map(\.terminalColumns)
        let cursorIndex = cells.count - characters.count + cursor
        let usable = max(1, width - 1)
        var start = 0
        var beforeCursor = columns[..<cursorIndex].reduce(0, +)
        while beforeCursor >= usable, start < cursorIndex {
            beforeCursor -= columns[start]
            start += 1
        }
        var end = start
        var shown = 0
        while end < cells.count, shown + columns[end] <= usable {
            shown += columns[end]
            end += 1
        }
        let back = shown - beforeCursor
        return "\r\u{1B}[2K" + String(cells[start..<end]) + (back > 0 ? "\u{1B}[\(back)D" : "")
    }
}
