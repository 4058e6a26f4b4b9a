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
