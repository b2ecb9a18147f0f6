import CaucusLock
import CaucusRelay
import Foundation
import Logging
import Testing

@Suite("Relay: JSON logs")
struct JSONLogHandlerTests {
    final class Lines: Sendable {
        let lines = Locked<[String]>([])
    }

    @Test("Each entry is one JSON object per line with level, label, message and metadata")
    func oneObjectPerLine() throws {
        let collected = Lines()
        var handler = JSONLogHandler(label: "caucus.relay") { line in collected.lines.withLock { $0.append(line) } }
        handler.logLevel = .info
        var logger = Logger(label: "caucus.relay") { _ in handler }
        logger[metadataKey: "instance"] = "a"
        logger.debug("not shown")
        logger.info("relay \"listening\"", metadata: ["port": "8080", "addresses": .array(["ws://127.0.0.1:8080"])])
        let lines = collected.lines.withLock { $0 }
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.hasSuffix("\n") && line.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "info")
        #expect(object["label"] as? String == "caucus.relay")
        #expect(object["message"] as? String == "relay \"listening\"")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["port"] as? String == "8080")
        #expect(metadata["instance"] as? String == "a")
        #expect(metadata["addresses"] as? [String] == ["ws://127.0.0.1:8080"])
        #expect((object["time"] as? String)?.contains("T") == true)
    }
}
