"""A small authoritative DNS server for the far side of the e2e world (dnspython, UDP and TCP).

``python -m tests.harness.authoritative_dns ADDRESS NAME=IP ...`` answers A and AAAA queries for
the given names with the AA flag, NXDOMAIN for any other name, and prints ``ready`` once it
listens. It prints each query's name and source address as it arrives, so a test can tell who
asked and whether a name left the node at all (a blocked name must not).
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def answer(query: dns.message.Message, records: dict[str, str]) -> dns.message.Message:
    reply = dns.message.make_response(query)
    reply.flags |= 0x0400  # AA
    question = query.question[0]
    name = question.name.to_text(omit_final_dot=True).lower()
    if name not in records:
        reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply
    address = ipaddress.ip_address(records[name])
    wanted = dns.rdatatype.A if address.version == 4 else dns.rdatatype.AAAA
    if question.rdtype == wanted:
        reply.answer.append(
            dns.rrset.from_text(question.name, 60, dns.rdataclass.IN, wanted, str(address))
        )
    return reply


def serve_udp(sock: socket.socket, records: dict[str, str]) -> None:
    while True:
        data, peer = sock.recvfrom(4096)
        query = dns.message.from_wire(data)
        print(query.question[0].name.to_text(), peer[0], flush=True)
        sock.sendto(answer(query, records).to_wire(), peer)


def serve_tcp(listener: socket.socket, records: dict[str, str]) -> None:
    while True:
        connection, peer = listener.accept()
        with connection:
            size = int.from_bytes(connection.recv(2), "big")
            query = dns.message.from_wire(connection.recv(size))
            print(query.question[0].name.to_text(), peer[0], flush=True)
            wire = answer(query, records).to_wire()
            connection.sendall(len(wire).to_bytes(2, "big") + wire)


def main() -> None:
    address = sys.argv[1]
    records = dict(pair.split("=", 1) for pair in sys.argv[2:])
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, 53))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((address, 53))
    tcp.listen()
    threading.Thread(target=serve_tcp, args=(tcp, records), daemon=True).start()
    print("ready", flush=True)
    serve_udp(udp, records)


if __name__ == "__main__":
    main()
