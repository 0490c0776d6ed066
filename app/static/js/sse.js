// Server-sent events over a POST (EventSource can only GET).

// Parses the event stream line by line as the SSE spec does (CRLF, LF or CR line ends,
// comments, multi-line data) and calls onEvent(name, data) for each complete event.
export async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let name = "";
  let data = [];
  const dispatch = () => {
    if (data.length) {
      let payload;
      try {
        payload = JSON.parse(data.join("\n"));
      } catch {
        payload = { text: data.join("\n") };
      }
      onEvent(name || "message", payload);
    }
    name = "";
    data = [];
  };
  const line = (text) => {
    if (text === "") return dispatch();
    if (text.startsWith(":")) return undefined;
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
    return undefined;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let match;
    // A CR at the very end may be half of a CRLF: keep it for the next chunk.
    while ((match = /\r\n|\n|\r(?!$)/.exec(buffer))) {
      line(buffer.slice(0, match.index));
      buffer = buffer.slice(match.index + match[0].length);
    }
  }
  if (buffer) line(buffer.replace(/\r$/, ""));
  dispatch();
}
