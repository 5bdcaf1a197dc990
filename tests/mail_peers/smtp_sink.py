#!/usr/bin/env python3
"""An SMTP server for the mail tests (tests/mail.rs, tests/vrrp_mail.rs): speaks
real SMTP (RFC 5321: HELO/EHLO, MAIL FROM, RCPT TO, DATA with dot-unstuffing,
RSET, NOOP, QUIT) over a socket and prints each accepted message as one JSON line
on stdout: {"helo", "from", "to": [...], "data"}. Python standard library only.

    smtp_sink.py [--listen ADDR:PORT] [--hang]

Prints "READY PORT" once listening. --hang: accept connections and never answer
(a dead mail server, for the timeout path); each connection is printed as
{"accepted": N}.
"""
import json
import socket
import sys
import threading


def serve(conn):
    f = conn.makefile("rb")
    out = conn.makefile("wb")

    def say(line):
        out.write(line.encode() + b"\r\n")
        out.flush()

    say("220 sink ESMTP ready")
    helo, sender, rcpts = "", None, []
    while True:
        raw = f.readline()
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        verb = line.split(" ", 1)[0].upper()
        arg = line[len(verb):].strip()
        if verb in ("HELO", "EHLO"):
            helo = arg
            say("250 sink")
        elif verb == "MAIL" and arg.upper().startswith("FROM:"):
            sender, rcpts = arg[5:].strip().strip("<>"), []
            say("250 ok")
        elif verb == "RCPT" and arg.upper().startswith("TO:"):
            if sender is None:
                say("503 need MAIL first")
                continue
            rcpts.append(arg[3:].strip().strip("<>"))
            say("250 ok")
        elif verb == "DATA":
            if not rcpts:
                say("503 need RCPT first")
                continue
            say("354 end with <CRLF>.<CRLF>")
            lines = []
            while True:
                d = f.readline()
                if not d:
                    return
                d = d.decode("utf-8", "replace")
                if d in (".\r\n", ".\n"):
                    break
                if d.startswith("."):
                    d = d[1:]
                lines.append(d)
            msg = {"helo": helo, "from": sender, "to": rcpts, "data": "".join(lines)}
            sys.stdout.write(json.dumps(msg) + "\n")
            sys.stdout.flush()
            sender, rcpts = None, []
            say("250 queued")
        elif verb == "RSET":
            sender, rcpts = None, []
            say("250 ok")
        elif verb == "NOOP":
            say("250 ok")
        elif verb == "QUIT":
            say("221 bye")
            return
        else:
            say("500 unknown command")


def main():
    listen, hang = "127.0.0.1:0", False
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--listen":
            listen = args.pop(0)
        elif a == "--hang":
            hang = True
    host, port = listen.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(16)
    print("READY %d" % s.getsockname()[1], flush=True)
    held = []
    while True:
        conn, _ = s.accept()
        if hang:
            held.append(conn)
            print(json.dumps({"accepted": len(held)}), flush=True)
            continue
        threading.Thread(target=lambda c=conn: (serve(c), c.close()), daemon=True).start()


if __name__ == "__main__":
    main()
