#!/usr/bin/env python3
"""A client of the caucus agent's JSON-RPC 2.0 socket, standard library only (README "The agent").

    caucus-rpc.py SOCKET METHOD [PARAMS_JSON]   one call; prints the result, or the error on stderr (exit 1)
    caucus-rpc.py SOCKET --subscribe COUNT      prints the next COUNT messages the identity receives,
                                                one JSON object per line, then exits

SOCKET is what `caucus agent status --json` prints as "socket". Bots can start from this file.
"""
import json
import socket
import sys


class Agent:
    def __init__(self, path, timeout=120):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.lines = self.sock.makefile("r", encoding="utf-8")
        self.next_id = 1

    def call(self, method, params=None):
        """Sends one request and returns its result; raises RuntimeError with the agent's error."""
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        self.next_id += 1
        if params is not None:
            request["params"] = params
        self.sock.sendall((json.dumps(request) + "\n").encode())
        while True:
            answer = json.loads(self.readline())
            if answer.get("id") != request["id"]:
                continue  # a notification (a message) that came first
            if "error" in answer:
                raise RuntimeError("%s: %s" % (answer["error"]["code"], answer["error"]["message"]))
            return answer["result"]

    def notifications(self):
        """Yields the params of each `message` notification, as they come."""
        while True:
            answer = json.loads(self.readline())
            if answer.get("method") == "message":
                yield answer["params"]

    def readline(self):
        line = self.lines.readline()
        if not line:
            raise RuntimeError("the agent closed the connection")
        return line


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    agent = Agent(argv[1])
    if argv[2] == "--subscribe":
        count = int(argv[3])
        agent.call("subscribe")
        print(json.dumps({"subscribed": True}), flush=True)
        for index, message in enumerate(agent.notifications()):
            print(json.dumps(message, ensure_ascii=True), flush=True)
            if index + 1 >= count:
                return 0
    params = json.loads(argv[3]) if len(argv) > 3 else None
    try:
        print(json.dumps(agent.call(argv[2], params), ensure_ascii=True))
    except RuntimeError as error:
        sys.stderr.write("error: %s\n" % error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
