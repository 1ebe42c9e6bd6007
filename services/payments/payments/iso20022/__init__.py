"""ISO 20022 messages, XML on one side and typed values on the other: pain.008 and pain.001
writers, pain.002 and camt.054 readers (payments.domain's types), the XSD checks. No
session, no SQL."""
