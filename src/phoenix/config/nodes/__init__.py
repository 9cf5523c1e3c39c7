"""Exit-node trust: enrollment (single-use keys, AWS instance attestation), proof of key
possession, approval, and the fleet sweep that notices silent nodes (docs/node.md)."""
