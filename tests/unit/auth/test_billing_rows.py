"""The billing store's typed rows are its tables' columns: a field no column has, or a column
a row forgets, fails here rather than in an INSERT."""

from __future__ import annotations

import msgspec
import pytest

from phoenix.auth.billing.rows import (
    AppleSubscriptionState,
    AppleTransactionRecord,
    RefundedInvoice,
    StripeInvoiceRecord,
    StripeSubscriptionState,
)
from phoenix.auth.models import (
    AppleSubscription,
    AppleTransaction,
    StripeInvoice,
    StripeSubscription,
    UserBase,
)

# Columns the store sets itself rather than from an event: the owner it looks up, and the
# refund mark only a refund writes.
OWNER = {"uid"}


@pytest.mark.parametrize(
    ("row", "model", "not_from_events"),
    [
        (StripeSubscriptionState, StripeSubscription, OWNER | {"refunded_through"}),
        (StripeInvoiceRecord, StripeInvoice, OWNER),
        (AppleSubscriptionState, AppleSubscription, OWNER),
        (AppleTransactionRecord, AppleTransaction, OWNER),
    ],
)
def test_each_written_row_has_exactly_its_tables_columns_but_its_owner(
    row: type[msgspec.Struct], model: type[UserBase], not_from_events: set[str]
) -> None:
    columns = {column.name for column in model.__table__.columns}
    assert set(row.__struct_fields__) == columns - not_from_events


def test_a_refunded_invoice_reads_columns_of_the_invoices_table() -> None:
    columns = {column.name for column in StripeInvoice.__table__.columns}
    assert set(RefundedInvoice.__struct_fields__) <= columns
