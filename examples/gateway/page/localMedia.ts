// The camera and microphone. A call still works with only one of them, so a
// missing or refused device degrades instead of blocking the join.

const VIDEO: MediaTrackConstraints = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 20 } };

export async function openLocalMedia(): Promise<MediaStream> {
  const attempts: MediaStreamConstraints[] = [{ audio: true, video: VIDEO }, { audio: true }, { video: VIDEO }];
  let lastError: unknown;
  for (const constraints of attempts) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`no camera or microphone available: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
}

/** A screen, window or tab to share (the browser asks the user which). */
export async function openScreen(): Promise<MediaStreamTrack> {
  const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  return stream.getVideoTracks()[0];
}

export function stopTracks(stream: MediaStream | null): void {
  stream?.getTracks().forEach((track) => track.stop());
}
