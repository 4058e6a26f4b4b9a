from django.db import connection

from fleet.vendors.models import VendorAccount
from tests.conftest import make_account


def raw_credentials(account: VendorAccount) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {VendorAccount._meta.db_table} WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


def test_credentials_are_encrypted_at_rest(org_a):
    account = make_account(org_a, credentials={"username": "ops@example.com", "password": "s3cret-Passw0rd"})
    raw = raw_credentials(account)
    assert "s3cret-Passw0rd" not in raw
    assert "ops@example.com" not in raw
    assert raw.startswith("gAAAA")  # a Fernet token


def test_credentials_read_back_in_clear_for_the_connector(org_a):
    account = make_account(org_a, credentials={"token": "tok-123"})
    assert VendorAccount.objects.get(pk=account.pk).credentials == {"token": "tok-123"}


def test_each_save_encrypts_afresh(org_a):
    account = make_account(org_a, credentials={"password": "same"})
    first = raw_credentials(account)
    account.save()
    assert raw_credentials(account) != first
