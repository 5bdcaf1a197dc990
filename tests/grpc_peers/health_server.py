"""A real gRPC server for tests/grpc_check.rs: grpcio with the standard health
service (grpcio-health-checking), or without it (every call: UNIMPLEMENTED).

    health_server.py health|bare [CERT KEY]

Listens on 127.0.0.1, an ephemeral port (TLS with CERT and KEY, ALPN h2 as grpcio
always does), prints "ready PORT", then reads commands from stdin, one a line,
answering each with "ok" once applied:
    set SERVICE SERVING|NOT_SERVING|SERVICE_UNKNOWN   ("-" is the service "")
    checks                                            prints the Check calls served
Exits when stdin closes.
"""

import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

STATUS = {
    name: health_pb2.HealthCheckResponse.ServingStatus.Value(name)
    for name in ("SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")
}


class Counting(health.HealthServicer):
    """The library's servicer, counting the Check calls it serves."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.lock = threading.Lock()

    def Check(self, request, context):
        with self.lock:
            self.calls += 1
        return super().Check(request, context)


def main():
    mode = sys.argv[1]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = None
    if mode == "health":
        servicer = Counting()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if len(sys.argv) == 4:
        with open(sys.argv[2], "rb") as c, open(sys.argv[3], "rb") as k:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"ready {port}", flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["set"] and servicer is not None:
            service = "" if words[1] == "-" else words[1]
            servicer.set(service, STATUS[words[2]])
            print("ok", flush=True)
        elif words == ["checks"]:
            print(servicer.calls if servicer else 0, flush=True)
        else:
            print(f"unknown command {line!r}", flush=True)
    server.stop(0)


if __name__ == "__main__":
    main()
