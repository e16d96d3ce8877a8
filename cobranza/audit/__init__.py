"""Auditing: an account's Temporal history and its `collection_log` rows, side by side.

history   fetch every run of every collection of an account (across continue-as-new)
logrows   the `collection_log` rows, exactly as hashed, to and from JSON lines
reconcile one step in the history <-> one row in the log, field by field
pii       search histories, search attributes and memos for debtors' personal data
replay    replay histories with the current workflow code
timeline  one Spanish timeline (America/Bogota) of history events and log rows
verify    the four checks behind `cobranza audit ACCOUNT --verify`
bundle    an offline, self-checking export of all of the above
"""
