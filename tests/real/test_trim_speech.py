"""Speech-aware trimming of real voices: music, jingles, noise and room chatter before and
after the lecture go, every word stays, and pause removal never chops music under a voice.

The voices are real recordings from tests/data/real (English, Russian) and espeak-ng
lectures; the music is made here from ffmpeg's sources (chords from mixed ``sine``
sources, drums from gated, filtered noise), as loud as the voice, so loudness alone
cannot tell them apart. Each recording goes through ``leap process --until trim`` as an
operator runs it (in this process, or as a command for the AAC check), or through
:func:`pipeline.trim.trim`.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from leap.process import run_process
from pipeline import silence
from pipeline.probe import probe
from pipeline.timeline import Interval
from pipeline.trim import trim
from tests import synth

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
LEAP = [sys.executable, "-m", "leap.cli"]
RATE = synth.RATE
MUSIC_BEFORE = 40.0
MUSIC_AFTER = 30.0

ENGLISH = (
    "Good morning. Today we talk about how a signal is sampled.",
    "A signal is a function of time, and we measure it at regular intervals.",
    "That is all for today. Thank you, and see you next week.",
)
RUSSIAN = (
    "Доброе утро. Сегодня мы поговорим о том, как измеряют сигнал.",
    "Сигнал это функция времени, и мы измеряем его через равные промежутки.",
    "На сегодня всё. Спасибо за внимание, до следующей недели.",
)
CHORDS = ((261.63, 329.63, 392.0), (349.23, 440.0, 523.25), (392.0, 493.88, 587.33))


@dataclass(frozen=True)
class Talk:
    path: Path
    speech: tuple[float, float]
    """Where the voice is audible, on the recording's timeline."""
    phrases: tuple[tuple[float, float], ...]


def _ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *map(str, args)], check=True)


@functools.cache
def _music(seconds: float, folder: Path) -> np.ndarray:
    """A loop of three chords with a kick drum and a hi-hat, at :data:`RATE`, as loud as the
    voices (-20 dBFS)."""
    out = folder / f"music_{seconds:g}.wav"
    if not out.exists():
        inputs: list[str] = []
        graph: list[str] = []
        n = 0
        bar = 2 * len(CHORDS)
        for k, chord in enumerate(CHORDS):
            for freq in chord:
                inputs += ["-f", "lavfi", "-i", f"sine=f={freq}:d={seconds}:r={RATE}"]
                gate = f"between(mod(t,{bar}),{2 * k},{2 * k + 2})*(1-0.3*mod(t,2))"
                graph.append(f"[{n}]volume='0.8*{gate}':eval=frame[c{n}]")
                n += 1
        for colour in ("pink", "white"):
            inputs += ["-f", "lavfi", "-i", f"anoisesrc=c={colour}:d={seconds}:r={RATE}:a=0.9"]
        graph.append(f"[{n}]lowpass=f=120,volume='lt(mod(t,0.5),0.08)':eval=frame[kick]")
        graph.append(f"[{n + 1}]highpass=f=7000,volume='0.3*between(mod(t,0.5),0.25,0.29)'"
                     ":eval=frame[hat]")  # fmt: skip
        mix = "".join(f"[c{i}]" for i in range(n))
        graph.append(f"{mix}[kick][hat]amix=inputs={n + 2}:normalize=0[out]")
        _ffmpeg(*inputs, "-filter_complex", ";".join(graph), "-map", "[out]", "-ac", "1", out)
    music = synth.decode_pcm(out, RATE)
    return (music * 10 ** (-20 / 20) / _rms(music)).astype(np.float32)  # as loud as the voice


def _chatter(seconds: float, folder: Path) -> np.ndarray:
    """People talking over each other across the room: three voices, muffled and echoing,
    about 25 dB below a lecturer at the microphone."""
    lines = [
        ("en-gb+m3", "Did you see the game last night? I could not believe the score."),
        ("en-us+f2", "Where are you sitting today? There is a free seat by the window."),
        ("de+m1", "Ich habe heute keine Zeit, wir sehen uns morgen in der Mensa."),
        ("en-us+m1", "Has anyone got a spare pen? Mine has just run out of ink again."),
    ]
    clips = [
        synth.speak(text, folder / f"chatter{i}.wav", voice=voice)
        for i, (voice, text) in enumerate(lines)
    ]
    total = np.zeros(round(seconds * RATE), dtype=np.float32)
    rng = np.random.default_rng(11)
    for i in range(round(seconds / 1.5)):
        clip = clips[i % len(clips)]
        at = int(rng.uniform(0, max(total.size - clip.size, 1)))
        part = total[at : at + clip.size]
        part += clip[: part.size]
    muffled = np.convolve(total, np.ones(6) / 6, mode="same")  # far from the microphone
    echo = np.zeros_like(muffled)
    echo[2400:] = 0.5 * muffled[:-2400]
    room = muffled + echo
    return (room * 10 ** (-45 / 20) / _rms(room)).astype(np.float32)


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))) + 1e-12)


def _voice(clip: np.ndarray, dbfs: float = -20.0) -> np.ndarray:
    first, last = synth.audible_span(clip)
    return (clip * 10 ** (dbfs / 20) / _rms(clip[first:last])).astype(np.float32)


def _lecture(texts: tuple[str, ...], folder: Path, voice: str, gap: float) -> list[np.ndarray]:
    clips = []
    for i, text in enumerate(texts):
        clips.append(_voice(synth.speak(text, folder / f"{voice}{i}.wav", voice=voice)))
        if i + 1 < len(texts):
            clips.append(np.zeros(round(gap * RATE), dtype=np.float32))
    return clips


def _talk(
    out: Path,
    before: np.ndarray,
    voice: list[np.ndarray],
    after: np.ndarray,
    *,
    bed: np.ndarray | None = None,
    video: bool = False,
) -> Talk:
    """``before``, the ``voice`` pieces (phrases and gaps, over ``bed`` if given), ``after``;
    written as AAC in M4A, or with a small picture in MP4."""
    body = np.concatenate(voice)
    phrases: list[tuple[float, float]] = []
    pos = before.size
    for piece in voice:
        if np.any(piece):
            # Real recordings have a noise floor within 40 dB of their peak.
            first, last = synth.audible_span(piece, RATE, below_peak_db=25.0)
            phrases.append(((pos + first) / RATE, (pos + last) / RATE))
        pos += piece.size
    if bed is not None:
        body = body + bed[: body.size]
    audio = np.concatenate((before, body, after))
    wav = out.with_suffix(".wav")
    synth.write_wav(wav, audio)
    seconds = audio.size / RATE
    if video:
        _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x120:r=10:d={seconds}", "-i", wav,
                "-c:v", "libx264", "-preset", "ultrafast", "-g", "20", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "96k", "-shortest", out)  # fmt: skip
    else:
        _ffmpeg("-i", wav, "-c:a", "aac", "-b:a", "96k", out)
    wav.unlink()
    return Talk(out, (phrases[0][0], phrases[-1][1]), tuple(phrases))


def _process_trim(source: Path, out: Path) -> dict:
    """``leap process SOURCE --until trim --out OUT``, in this process."""
    assert run_process(source, out, "trim", remove_pauses=False, lang=None) == 0
    return json.loads((out / "report.json").read_text())


def _leap_trim(source: Path, out: Path, *extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "TRANSCRIBE_"))}
    result = subprocess.run(
        [*LEAP, "process", str(source), "--until", "trim", "--out", str(out), *extra],
        cwd=out.parent, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads((out / "report.json").read_text())


def _assert_cut_to_the_speech(keep: list[list[float]], speech: tuple[float, float]) -> None:
    start, end = keep[0][0], keep[-1][1]
    assert speech[0] - 3.0 <= start <= speech[0], (start, speech)
    assert speech[1] <= end <= speech[1] + 3.0, (end, speech)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("talks")


@pytest.mark.parametrize(
    "voice",
    ["ae_aac.m4a", "whisper_jfk.flac", "tcpp_ru.wav", "espeak-en", "espeak-ru"],
)
def test_music_before_and_after_real_speech_is_cut_to_the_speech(voice: str, folder: Path) -> None:
    if voice.startswith("espeak-"):
        lang = voice.removeprefix("espeak-")
        pieces = _lecture(ENGLISH if lang == "en" else RUSSIAN, folder, lang, gap=1.2)
    else:
        pieces = [_voice(synth.decode_pcm(REAL / voice, RATE))]
    talk = _talk(
        folder / f"{voice.replace('.', '_')}.mp4",
        _music(MUSIC_BEFORE, folder),
        pieces,
        _music(MUSIC_BEFORE, folder)[: round(MUSIC_AFTER * RATE)],
        video=voice == "espeak-en",
    )
    report = _process_trim(talk.path, folder / f"out-{voice}")
    _assert_cut_to_the_speech(report["keep"], talk.speech)
    assert report["duration"] < report["source_duration"] - (MUSIC_BEFORE + MUSIC_AFTER) + 6.5
    video = folder / f"out-{voice}" / "video.mp4"
    assert probe(video).duration == pytest.approx(report["duration"], abs=0.1)


def test_room_noise_and_chatter_before_the_lecture_are_cut(folder: Path) -> None:
    rng = np.random.default_rng(5)
    # Chairs, steps and ventilation as the room fills (pink noise, loud), then people
    # talking while they wait; they chat on after the lecture too.
    rumble = np.cumsum(rng.normal(0, 1, 25 * RATE)).astype(np.float32)
    rumble -= np.convolve(rumble, np.ones(480) / 480, mode="same")
    rumble *= 10 ** (-30 / 20) / _rms(rumble)
    before = np.concatenate((rumble, _chatter(30.0, folder)))
    talk = _talk(
        folder / "chatter.m4a",
        before,
        _lecture(ENGLISH, folder, "en", gap=1.0),
        _chatter(20.0, folder),
    )
    result = trim(talk.path, folder / "out-chatter")
    keep = result.timeline.keep
    assert len(keep) == 1
    assert talk.speech[0] - 3.0 <= keep[0].start <= talk.speech[0]
    assert talk.speech[1] <= keep[0].end <= talk.speech[1] + 3.0


def test_a_voice_over_music_is_kept_whole_while_silent_pauses_go(folder: Path) -> None:
    music = _music(MUSIC_BEFORE, folder)
    pieces = _lecture(ENGLISH, folder, "en", gap=6.0)
    bed = np.tile(music, 3) * 10 ** (-8 / 20)  # the music under the voice, a little lower
    over_music = _talk(
        folder / "voice_over.m4a", music, pieces, music[: round(MUSIC_AFTER * RATE)], bed=bed
    )
    result = trim(over_music.path, folder / "out-voice-over", remove_pauses=True)
    # One piece: the music between the phrases is no pause.
    assert len(result.timeline) == 1
    _assert_cut_to_the_speech(result.timeline.pairs(), over_music.speech)

    # The same lecture with silence where the music was: its pauses are shortened.
    silence = np.zeros(round(10 * RATE), dtype=np.float32)
    quiet = _talk(folder / "voice_pauses.m4a", silence, pieces, silence)
    shortened = trim(quiet.path, folder / "out-pauses", remove_pauses=True)
    assert len(shortened.timeline) == len(ENGLISH)
    for start, end in quiet.phrases:
        mapped = shortened.timeline.to_output_interval(Interval(start, end))
        assert mapped is not None and mapped.duration == pytest.approx(end - start, abs=1e-6)


def test_only_head_and_tail_cut_copies_the_aac_track(tmp_path: Path) -> None:
    source = REAL / "ae_example.mp4"
    report = _leap_trim(source, tmp_path / "out")
    assert report["duration"] < report["source_duration"] - 0.5  # something was cut
    assert len(report["keep"]) == 1
    before, after = _audio_stream(source), _audio_stream(tmp_path / "out" / "video.mp4")
    for key in ("codec_name", "profile", "sample_rate", "channels"):
        assert after[key] == before[key], key
    assert float(after["bit_rate"]) == pytest.approx(float(before["bit_rate"]), rel=0.03)


def test_sound_that_cannot_be_copied_is_encoded_at_the_source_bitrate(tmp_path: Path) -> None:
    """MP3 sound cannot go into the published MP4 as it is. Re-encoded, it is given the
    source's rate, not one default for all: rich sound stays rich. (ffmpeg's AAC encoder
    spends less than it is given on plain speech, so the two runs are compared.)"""
    rates = {}
    for kbps in (96, 256):
        source = tmp_path / f"mp3_{kbps}.mp4"
        _ffmpeg("-i", REAL / "ae_example.mp4", "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy",
                "-c:a", "libmp3lame", "-b:a", f"{kbps}k", source)  # fmt: skip
        report = _leap_trim(source, tmp_path / f"out_{kbps}")
        assert report["duration"] < report["source_duration"] - 0.5
        after = _audio_stream(tmp_path / f"out_{kbps}" / "video.mp4")
        assert after["codec_name"] == "aac"
        rates[kbps] = float(after["bit_rate"])
    assert rates[256] > 1.6 * rates[96], rates


def _audio_stream(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_streams", "-of", "json",
         str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out)["streams"][0]


def test_listening_only_to_the_ends_finds_what_listening_to_all_finds(folder: Path) -> None:
    """Long recordings are listened to at the ends only (and in a few samples); the first
    and last words found must be those a full pass finds, music and chatter cut alike."""
    music = _music(MUSIC_BEFORE, folder)
    pieces = _lecture(ENGLISH, folder, "en", gap=1.0) * 2
    talk = _talk(
        folder / "long.m4a",
        music,
        pieces,
        np.concatenate((_chatter(20.0, folder), music[: round(MUSIC_AFTER * RATE)])),
    )
    duration = probe(talk.path).duration
    whole = silence.analyse(talk.path)
    ends = silence.analyse_ends(talk.path, duration, window=10.0, samples=4)
    assert not ends.complete
    assert ends.speech[0].start == pytest.approx(whole.speech[0].start, abs=0.1)
    assert ends.speech[-1].end == pytest.approx(whole.speech[-1].end, abs=0.1)
    assert talk.speech[0] - 1.0 <= ends.speech[0].start <= talk.speech[0] + 0.5
    assert talk.speech[1] - 0.5 <= ends.speech[-1].end <= talk.speech[1] + 1.0
