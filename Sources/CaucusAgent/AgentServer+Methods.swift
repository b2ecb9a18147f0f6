import CaucusClient
import Foundation

/// The agent's own methods (README "The agent" lists them with their params and results).
/// Their results are the objects `caucus … --json` prints.
extension AgentServer {
    func registerStandardMethods() {
        register("status") { _, _ in
            .object(["pid": .int(Int(getpid())), "socket": .string(self.socketPath),
                     "idle_lock_seconds": self.idleLock.map { .int(Int($0.components.seconds)) } ?? .null])
        }
        register("whoami") { _, _ in
            let name = try await self.account.displayName()
            return try Self.value(["did": self.account.did.description, "name": name, "relays": try await self.account.relays()])
        }
        register("send") { params, _ in
            let to = try Self.string(params, "to"), text = try Self.string(params, "text")
            let conversation = try await self.account.resolve(to)
            switch try await self.account.send(text, to: conversation) {
            case .sent: return .object(["sent": true])
            case .queued(let why): return .object(["sent": false, "queued": true, "reason": .string(why)])
            case .refused(let why): throw AgentMethodError(AgentMethodError.failed, "the relay refused the message (\(why)); it was not sent")
            }
        }
        register("sync") { _, _ in
            let received = try await self.account.sync()
            let queued = try await self.account.queuedCount()
            return try Self.value(["received": received, "queued": queued, "admitted": await self.account.admissions])
        }
        register("receive") { params, _ in
            // Like `caucus read`: fetch, then the unread messages, marked read unless asked not to.
            let markRead = params?["mark_read"]?.bool ?? true
            var warning: String?
            do throws(ClientError) { try await self.account.sync() } catch { warning = error.description }
            let lines = try await self.account.unread(markRead: markRead)
            var result: [String: Any] = ["messages": lines.map(\.json)]
            if let warning { result["warning"] = warning }
            return try Self.value(result)
        }
        register("subscribe") { _, connection in
            self.subscribe(connection)
            return .object(["subscribed": true])
        }
        register("groups") { _, _ in
            try Self.value(try await self.account.groups().map(\.json))
        }
        register("members") { params, _ in
            try Self.value(try await self.account.members(of: try Self.string(params, "group")).map(\.json))
        }
        register("history") { params, _ in
            let limit = params?["limit"]?.int ?? 50
            let conversation = try await self.account.resolve(try Self.string(params, "conversation"))
            return try Self.value(try await self.account.history(conversation, limit: max(1, limit)).map(\.json))
        }
        register("invites") { _, _ in
            try Self.value(try await self.account.invites().map(\.json))
        }
        register("invite.create") { params, _ in
            let group = try Self.string(params, "group")
            let seconds = params?["expires_seconds"]?.int ?? Int(Account.defaultInviteLifetime)
            guard seconds > 0, seconds <= Int(UInt32.max) else {
                throw AgentMethodError.invalid("params.expires_seconds must be a positive number of seconds")
            }
            let code = try await self.account.createInvite(group: group, lifetime: UInt32(seconds))
            return try Self.value(["code": code.text, "id": code.shortID, "group": group, "expires_in_seconds": seconds])
        }
        register("invite.withdraw") { params, _ in
            let id = try Self.string(params, "id")
            try await self.account.withdrawInvite(id)
            return .object(["withdrawn": true, "id": .string(id)])
        }
        register("campaigns") { params, _ in
            if params?["sync"]?.bool == true { try await self.account.sync() }
            return try Self.value(try await self.account.campaigns().map(\.json))
        }
        register("card.status") { params, _ in
            let campaign = try Self.string(params, "campaign")
            if params?["sync"]?.bool == true { try await self.account.sync() }
            let summary = try await self.account.findCampaign(campaign)
            return try Self.value(try await self.account.cardStatus(summary.campaign).json)
        }
        register("lock") { _, connection in
            // Answered first: the agent stops once the answer is written.
            connection.afterAnswering { self.lock() }
            return .object(["locked": true])
        }
    }

    /// A string param by name.
    static func string(_ params: JSONValue?, _ name: String) throws(AgentMethodError) -> String {
        guard let value = params?[name]?.string else { throw AgentMethodError.invalid("params.\(name) must be a string") }
        return value
    }

    static func value(_ any: Any) throws(AgentMethodError) -> JSONValue {
        guard let value = JSONValue(any: any) else { throw AgentMethodError(AgentMethodError.failed, "a result could not be written as JSON") }
        return value
    }
}
