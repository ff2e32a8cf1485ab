"""Expiry in the cloud's shape (issue 23): the sweep job's deletion of expired tasks
takes their files out of Cloud Storage (gcp-storage-emulator) with the rows
(PostgreSQL), so the bucket needs no age rule and no task points at a missing file."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from google.cloud.storage import Bucket, Client

from audioconv.adapters.gcs_blob import GcsBlobStore
from audioconv.domain.model import User
from audioconv.services import expiry, recovery, tasks
from audioconv.services.dependencies import Dependencies

FILES = (("uploads", ""), ("outputs", ".mp3"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_sweep_deletes_expired_tasks_files_from_the_bucket(
    deps: Dependencies, gcs_client: Client, bucket: Bucket, tmp_path: Path
) -> None:
    store = GcsBlobStore(bucket.name, client=gcs_client)
    settings = deps.settings.model_copy(update={"retention_hours": 24.0})
    cloud = replace(deps, blobs=store, settings=settings)
    made = cloud.clock()
    sample = tmp_path / "in.wav"
    sample.write_bytes(b"RIFF not really audio, but stored all the same")
    user = User("ann", "ann@example.com", "x", created_at=made)
    with cloud.uow() as uow:
        uow.users.add(user)
        uow.commit()
    assert user.id is not None
    for name, age in (("old.wav", timedelta(hours=30)), ("new.wav", timedelta(hours=1))):
        key, out = f"uploads/{user.id}/{name}", f"outputs/{user.id}/{name}.mp3"
        store.put_file(key, sample, "audio/wav")
        store.put_file(out, sample, "audio/mpeg")
        then = replace(cloud, clock=lambda age=age: made - age)
        task = tasks.record_task(then, user.id, key, name, "mp3", None)
        with cloud.uow() as uow:
            stored = uow.tasks.get(task.id or 0, for_update=True)
            assert stored is not None
            stored.output_key = out
            uow.commit()
    result = recovery.sweep(cloud)
    assert result.expired == 1
    assert [store.size(f"{kind}/{user.id}/old.wav{ext}") for kind, ext in FILES] == [None, None]
    assert None not in [store.size(f"{kind}/{user.id}/new.wav{ext}") for kind, ext in FILES]
    assert expiry.expire_tasks(cloud) == 0  # nothing more is due
