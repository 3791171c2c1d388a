"""A TLS-terminating byte proxy for the export tests: rotel-agent has no TLS receiver, so this
accepts TLS (ALPN ``h2`` and ``http/1.1``), optionally requires a client certificate signed by a
given CA (mutual TLS), and pumps the decrypted bytes to rotel's plain ports: ``h2`` (gRPC) to
the gRPC port, anything else (HTTP/1.1) to the HTTP port. Python standard library only.

    python3 tls_proxy.py --cert server.pem --key server.key --grpc-port 4317 --http-port 4318 \
        [--client-ca ca.pem] [--port 0]

Prints ``listening <port>`` on stdout once it accepts connections; a failed handshake is
printed as ``handshake failed: <reason>`` on stderr (the client sees the TLS alert). Runs until
killed.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import sys
import threading


def pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (dst, src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn: socket.socket, context: ssl.SSLContext, grpc_port: int, http_port: int) -> None:
    try:
        tls = context.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        print(f"handshake failed: {e}", file=sys.stderr, flush=True)
        conn.close()
        return
    port = grpc_port if tls.selected_alpn_protocol() == "h2" else http_port
    try:
        upstream = socket.create_connection(("127.0.0.1", port))
    except OSError as e:
        print(f"upstream 127.0.0.1:{port} failed: {e}", file=sys.stderr, flush=True)
        tls.close()
        return
    threading.Thread(target=pump, args=(tls, upstream), daemon=True).start()
    pump(upstream, tls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--client-ca", help="require a client certificate signed by this CA")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    context.set_alpn_protocols(["h2", "http/1.1"])
    if args.client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(args.client_ca)

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(64)
    print(f"listening {listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(
            target=serve, args=(conn, context, args.grpc_port, args.http_port), daemon=True
        ).start()


if __name__ == "__main__":
    main()
