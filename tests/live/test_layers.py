from fleet.live.layers import SharedDecodePubSubLayer


def test_the_layer_decodes_one_message_once_for_every_socket_of_a_process():
    layer = SharedDecodePubSubLayer(hosts=["redis://127.0.0.1:6379/0"])
    raw = layer.serialize({"type": "positions.batch", "positions": [[1, 2.0]]})
    first, second = layer.deserialize(raw), layer.deserialize(raw)
    assert first is second
    assert first == {"type": "positions.batch", "positions": [[1, 2.0]]}


def test_equal_bytes_from_another_message_are_decoded_afresh():
    layer = SharedDecodePubSubLayer(hosts=["redis://127.0.0.1:6379/0"])
    message = {"type": "states.batch", "d": [[1, "stale", "offline"]]}
    first = layer.deserialize(layer.serialize(message))
    assert layer.deserialize(layer.serialize(message)) is not first


def test_the_layer_counts_what_waits_in_its_queues_and_logs_it_once_a_minute(settings, monkeypatch, caplog):
    import asyncio
    import logging
    import uuid

    from fleet.live import layers

    async def scenario():
        layer = SharedDecodePubSubLayer(hosts=[settings.REDIS_URL], prefix=f"fleet-test-{uuid.uuid4().hex}")
        reader, idle = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("org-1", reader)
        await layer.group_add("org-1", idle)
        for n in range(5):
            await layer.group_send("org-1", {"type": "positions.batch", "n": n})
        deadline = asyncio.get_running_loop().time() + 10
        while layer.stats()["queued"] < 10 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        before = layer.stats()
        monkeypatch.setattr(layers, "STATS_EVERY_S", 0.0)
        with caplog.at_level(logging.INFO, logger="fleet.live.layers"):
            first = await layer.receive(reader)  # the idle socket's queue keeps what it was sent
        after = layer.stats()
        monkeypatch.setattr(layers, "LONG_QUEUE", 5)
        with caplog.at_level(logging.INFO, logger="fleet.live.layers"):
            await layer.receive(reader)
        await layer.flush()
        return before, first, after

    before, first, after = asyncio.run(scenario())
    assert first == {"type": "positions.batch", "n": 0}
    assert before["channels"] == 2 and before["groups"] == 1 and before["members"] == 2
    assert (before["queued"], before["longest"]) == (10, 5)
    assert (after["queued"], after["longest"]) == (9, 5)
    assert before["blocks"] > 0
    logged = [r for r in caplog.records if r.name == "fleet.live.layers"]
    assert [r.levelno for r in logged] == [logging.INFO, logging.WARNING]  # then 5 waited for one socket
    assert "'queued': 10" in logged[0].getMessage() and "'longest': 5" in logged[0].getMessage()
