// Open the live socket while the rest of the page loads (the server builds the snapshot meanwhile);
// live.js adopts it and replays the frames that arrived before it. A classic script, so it runs before the
// modules: its tag carries the socket path in data-socket.
(function () {
  try {
    var path = document.currentScript.dataset.socket;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + path);
    var queue = [];
    socket.onmessage = function (event) { queue.push(event); };
    window.fleetEarlySocket = { socket: socket, queue: queue };
  } catch (e) { /* live.js connects normally */ }
})();
