"""Settings-table values for tests that build one construct by hand: the props have no defaults of
their own (the table in config/settings.py is the one source), so such a test takes the value a
dev environment would get from the table rather than typing a number again."""

from __future__ import annotations

from config import groups, settings


def default(key: str, profile: str = "dev"):
    """The table's default of per-environment setting `key` for `profile`."""
    return settings.ENVIRONMENT_SETTINGS[key].default(profile)


def lifecycle_settings(profile: str = "dev") -> groups.Lifecycle:
    """The environment's lifecycle group as the table defaults it."""
    return groups.Lifecycle(**{s.field: s.default(profile) for s in settings.ENVIRONMENT if s.group == "lifecycle"})


def lifecycle(current_expire_days: int | None = None):
    """A bucket's lifecycle rules from the table's defaults (a log bucket's with `current_expire_days`)."""
    from modules.bucket import Lifecycle

    return Lifecycle.of(lifecycle_settings(), current_expire_days)


def key_deletion_window_days(profile: str = "dev") -> int:
    return default("key_deletion_window_days", profile)


def region_key(stack, namer, region: str, construct_id: str = "kms"):
    """A region's managed key as a construct test needs one: a literal account, the table's
    deletion window."""
    from modules.kms import EncryptionKey, EncryptionKeyProps

    props = EncryptionKeyProps(
        namer=namer,
        region=region,
        account_token="111111111111",
        partition="aws",
        deletion_window_days=key_deletion_window_days(),
    )
    return EncryptionKey(stack, construct_id, props)
