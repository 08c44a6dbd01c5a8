"""Caption grammar: several paraphrases per clip from synonyms for who moves, what they do, how fast and where.

Species and gender are named in some captions and not in others, so a text model has to read the words to know
them; speed, direction, turn angle and repetitions are always stated when they are part of the clip's labels.
"""
from __future__ import annotations

import numpy as np

from utils.zoo.actions import LOCOMOTION, Step

# ---- who ------------------------------------------------------------------------------------------------------
ANIMAL_NOUNS = {  # species -> gender (or "any") -> nouns
    "dog": {"any": ["dog", "hound", "canine", "doggy", "pooch", "mutt"], "male": ["male dog", "dog"],
            "female": ["female dog", "mother dog"], "juvenile": ["puppy", "pup", "young dog", "little puppy"]},
    "cat": {"any": ["cat", "feline", "kitty", "house cat", "moggy"], "male": ["tomcat", "tom", "male cat"],
            "female": ["female cat", "she-cat", "queen cat"], "juvenile": ["kitten", "young cat", "little kitten"]},
    "horse": {"any": ["horse", "steed", "equine", "mount"], "male": ["stallion", "male horse"],
              "female": ["mare", "female horse"], "juvenile": ["foal", "pony", "young horse", "colt"]},
    "deer": {"any": ["deer", "cervid", "roe deer"], "male": ["stag", "buck", "male deer"],
             "female": ["doe", "female deer"], "juvenile": ["fawn", "young deer", "baby deer"]},
    "bear": {"any": ["bear", "grizzly", "brown bear", "bruin"], "male": ["male bear", "big male bear"],
             "female": ["she-bear", "female bear", "mother bear"], "juvenile": ["bear cub", "cub", "young bear"]},
    "elephant": {"any": ["elephant", "pachyderm", "jumbo"], "male": ["bull elephant", "tusker", "male elephant"],
                 "female": ["cow elephant", "female elephant", "matriarch"],
                 "juvenile": ["elephant calf", "baby elephant", "calf"]},
    "rabbit": {"any": ["rabbit", "bunny", "hare"], "male": ["buck rabbit", "male rabbit"],
               "female": ["doe rabbit", "female rabbit"], "juvenile": ["baby rabbit", "young bunny", "kit"]},
    "lion": {"any": ["lion", "big cat", "wild cat"], "male": ["male lion", "maned lion"],
             "female": ["lioness", "female lion"], "juvenile": ["lion cub", "young lion", "cub"]},
}
GENERIC_ANIMAL = {"any": ["animal", "creature", "beast", "quadruped", "four-legged animal", "critter"],
                  "juvenile": ["young animal", "baby animal", "youngster"]}
HUMAN_NOUNS = {"male": ["man", "guy", "gentleman", "male", "adult man", "fellow"],
               "female": ["woman", "lady", "female", "adult woman", "gal"],
               "juvenile": ["child", "kid", "boy", "girl", "youngster", "little kid", "young child"]}
GENERIC_HUMAN = ["person", "individual", "figure", "human", "subject", "character"]
# (subject that starts a later clause, possessive, reflexive); a noun phrase stands in for singular "they",
# whose verb would need the plural form
PRONOUN = {"male": ("he", "his", "himself"), "female": ("she", "her", "herself"), "animal": ("it", "its", "itself"),
           "any": ("the person", "their", "themselves"), "child": ("the child", "their", "themselves")}
SIZE_WORDS = {"big": ["big", "large", "huge", "hefty"], "small": ["small", "little", "tiny", "petite"]}

# ---- how ------------------------------------------------------------------------------------------------------
ADVERBS = {
    "slowly": ["slowly", "leisurely", "gently", "unhurriedly", "lazily", "at a slow pace", "calmly", "carefully",
               "sluggishly", "at a relaxed pace"],
    "normally": ["", "", "steadily", "at a normal pace", "at an even pace", "casually", "at a moderate speed",
                 "at a regular pace"],
    "quickly": ["quickly", "fast", "rapidly", "briskly", "swiftly", "hastily", "at high speed", "energetically",
                "hurriedly", "speedily", "in a hurry"],
}
REPS = {1: ["", "once", "one time"], 2: ["twice", "two times", "a couple of times"],
        3: ["three times", "three times in a row", "thrice"]}

# ---- what: verb phrases ({pos} = possessive, {self} = reflexive) ----------------------------------------------
VERBS = {
    "idle": ["stands still", "stands idle", "waits", "stays in place", "stands around", "remains standing",
             "lingers on the spot", "pauses and stands"],
    "walk": ["walks", "strolls", "paces", "treads", "wanders", "steps", "moves", "proceeds"],
    "walk_slow": ["saunters", "plods", "meanders", "ambles"],
    "walk_pad": ["pads", "prowls"],
    "trot": ["trots", "jogs", "moves at a trot", "goes at a trot"],
    "hop": ["hops", "bunny-hops", "hops along", "skips along"],
    "gallop": ["gallops", "runs", "sprints", "dashes", "races", "charges", "bolts"],
    "bound": ["bounds", "runs", "dashes", "sprints", "scampers", "leaps along"],
    "amble": ["hurries", "rushes", "moves at a fast amble", "runs", "power-walks"],
    "jog": ["jogs", "runs at an easy pace", "does a light jog", "trots"],
    "run": ["runs", "sprints", "dashes", "races", "rushes"],
    "walk_backward": ["walks backward", "backs up", "steps backward", "moves backwards", "retreats",
                      "reverses", "walks backwards"],
    "side_step": ["side-steps", "shuffles sideways", "steps sideways", "moves sideways", "sidesteps"],
    "crouch_walk": ["walks crouched", "sneaks in a crouch", "crouch-walks", "creeps bent low",
                    "moves in a low crouch", "walks hunched over"],
    "turn": ["turns", "rotates", "pivots", "swings around", "spins", "wheels around"],
    "jump_forward": ["jumps forward", "leaps forward", "springs forward", "bounds forward", "jumps ahead",
                     "hops forward", "makes a jump forward"],
    "jump_in_place": ["jumps in place", "jumps up and down", "hops on the spot", "springs straight up",
                      "leaps up in place", "jumps on the spot"],
    "sit_down": ["sits down", "sits", "settles into a sitting position", "lowers {self} to sit",
                 "takes a seat", "drops into a sit"],
    "sit_down_animal": ["sits down on {pos} haunches", "plops down on {pos} rump"],
    "sit_down_human": ["sits down on a chair", "sits down on a stool", "lowers {self} onto a seat"],
    "lie_down": ["lies down", "lays down", "settles down on the ground", "flops down", "lies down to rest",
                 "reclines on the ground", "curls up on the floor"],
    "get_up": ["gets up", "stands up", "rises", "gets back on {pos} feet", "rises to {pos} feet",
               "pushes {self} up", "gets off the ground"],
    "stand_up": ["stands up", "gets up from the chair", "rises from the seat", "gets to {pos} feet",
                 "stands up from sitting", "rises"],
    "look_around": ["looks around", "glances around", "looks left and right", "surveys {pos} surroundings",
                    "scans the area", "turns {pos} head from side to side", "peers around"],
    "shake": ["shakes {self}", "shakes {pos} body", "gives {self} a shake", "shakes as if wet",
              "does a full-body shake", "shakes off water"],
    "eat": ["eats from the ground", "grazes", "lowers {pos} head to eat", "nibbles at the ground",
            "feeds on the grass", "munches on something on the floor", "bends down to eat"],
    "rear_up": ["rears up", "rises up on {pos} hind legs", "stands up on {pos} back legs", "rears",
                "lifts {pos} front legs into the air"],
    "pounce": ["pounces", "pounces forward", "crouches and pounces", "springs at {pos} prey",
               "lunges forward", "ambushes something in front of {pos_obj}"],
    "squat": ["squats", "does a squat", "squats down and stands back up", "crouches down and rises",
              "performs a squat", "bends {pos} knees into a squat"],
    "wave": ["waves", "waves a hand", "waves hello", "waves goodbye", "raises a hand and waves",
             "waves {pos} arm"],
    "kick": ["kicks", "kicks forward", "does a front kick", "kicks the air", "kicks with one leg",
             "throws a kick"],
    "punch": ["punches", "throws punches", "punches the air", "boxes", "jabs forward", "throws jabs"],
}
TURN_WORDS = {45: ["45 degrees", "slightly", "an eighth of a turn", "a little"],
              60: ["60 degrees", "partly", "somewhat"],
              90: ["90 degrees", "ninety degrees", "a quarter turn", "at a right angle"],
              120: ["120 degrees", "sharply", "a third of a turn"],
              135: ["135 degrees", "sharply", "most of the way around"],
              180: ["180 degrees", "all the way around", "half a turn", "around completely"]}
SIDE = {"left": ["to the left", "to {pos} left", "leftward", "left"],
        "right": ["to the right", "to {pos} right", "rightward", "right"]}
FORWARD = ["forward", "ahead", "straight ahead", "in a straight line", "forwards", ""]
CIRCLE = {"left": ["in a circle", "in a full circle", "around in a loop", "in a counterclockwise circle",
                   "in a circle to the left", "around in a ring"],
          "right": ["in a circle", "in a full circle", "around in a loop", "in a clockwise circle",
                    "in a circle to the right", "around in a ring"]}
CURVE = ["and veers {side}", "and curves {side}", "while turning {side}", "bearing {side}", "and bends {side}"]
TWO = ["{a}, then {b}", "{a} and then {b}", "{a}. After that, {p} {b}", "{a}, and afterwards {p} {b}",
       "{a} before {p} {b}", "{a}; next, {p} {b}", "first {a}, then {b}", "{a}, after which {p} {b}"]
THREE = ["{a}, then {b}, and finally {c}", "first {a}, next {b}, and lastly {c}", "{a}, {b}, and then {c}",
         "{a}. Then {p} {b} and finally {c}", "{a}, after that {b}, and in the end {c}"]


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _subject(rng, group: str, species: str, gender: str, size: str | None) -> tuple[str, tuple[str, str, str]]:
    """A noun phrase naming the performer (sometimes the species / gender, sometimes not) and its pronouns."""
    if group == "people":
        r = rng.random()
        if r < 0.55:
            noun = _pick(rng, HUMAN_NOUNS[gender])
            pron = PRONOUN[{"boy": "male", "girl": "female"}.get(noun, "child" if gender == "juvenile" else gender)]
        elif r < 0.75:
            return _pick(rng, ["someone", "somebody"]), PRONOUN["any"]
        else:
            noun, pron = _pick(rng, GENERIC_HUMAN), PRONOUN["any"]
    else:
        pron = PRONOUN["animal"]
        r = rng.random()
        nouns = ANIMAL_NOUNS[species]
        if r < 0.35:
            noun = _pick(rng, nouns["any"])
        elif r < 0.65:
            noun = _pick(rng, nouns[gender])
        elif r < 0.8 and gender == "juvenile":
            noun = _pick(rng, GENERIC_ANIMAL["juvenile"])
        else:
            noun = _pick(rng, GENERIC_ANIMAL["any"])
        if size and rng.random() < 0.25:
            noun = f"{_pick(rng, SIZE_WORDS[size])} {noun}"
    det = _pick(rng, ["a", "a", "the", "the", "this"])
    if det == "a" and noun[0] in "aeiou":
        det = "an"
    return f"{det} {noun}", pron


def _verb(rng, step: Step, group: str, species: str, gait: str | None) -> str:
    a = step.action
    if a == "walk":
        pool = VERBS["walk"] + (VERBS["walk_slow"] if step.speed == "slowly" else [])
        if species in ("cat", "lion", "dog"):
            pool = pool + VERBS["walk_pad"]
    elif a == "trot":
        pool = VERBS["hop"] if gait == "hop" else VERBS["trot"]
    elif a == "run" and group == "animals":
        pool = VERBS[{"bound": "bound", "amble": "amble"}.get(gait, "gallop")]
    elif a == "sit_down":
        pool = VERBS["sit_down"] + VERBS["sit_down_human" if group == "people" else "sit_down_animal"]
    else:
        pool = VERBS[a]
    return _pick(rng, pool)


def _phrase(rng, step: Step, group: str, species: str, gait: str | None, adverb_p: float = 1.0) -> str:
    """The predicate for one step: verb + direction / angle + repetitions + speed adverb, in varied order."""
    verb = _verb(rng, step, group, species, gait)
    parts = [verb]
    a = step.action
    if a == "turn":
        side = "left" if step.angle > 0 else "right"
        amount = _pick(rng, TURN_WORDS[int(abs(step.angle))])
        side_words = _pick(rng, SIDE[side])
        parts = [verb, amount, side_words] if rng.random() < 0.6 else [verb, side_words, "by " + amount
                                                                        if amount[0].isdigit() else amount]
    elif a in LOCOMOTION and a not in ("walk_backward", "side_step"):
        if step.direction == "forward":
            parts.append(_pick(rng, FORWARD))
        elif step.direction == "circle":
            parts.append(_pick(rng, CIRCLE["left" if step.angle > 0 else "right"]))
        elif step.direction in ("left", "right"):
            curve = _pick(rng, CURVE).format(side=step.direction)
            if rng.random() < 0.5:
                curve = f"{curve} {_pick(rng, TURN_WORDS[int(abs(step.angle))])}" if abs(step.angle) in (
                    45, 90, 180) else curve
            parts.append(_pick(rng, [curve, _pick(rng, SIDE[step.direction])]))
    elif a == "side_step":
        parts.append(_pick(rng, SIDE[step.direction]))
    if step.reps > 1 or (step.reps == 1 and a in ("jump_forward", "jump_in_place", "kick") and rng.random() < 0.3):
        parts.append(_pick(rng, REPS[step.reps]))
    adverb = _pick(rng, ADVERBS[step.speed]) if rng.random() < adverb_p and a != "idle" else ""
    if adverb:
        if rng.random() < 0.3 and adverb.endswith("ly"):
            parts.insert(0, adverb)
        else:
            parts.append(adverb)
    return " ".join(p for p in parts if p)


def _fill(text: str, pron: tuple[str, str, str]) -> str:
    subj, pos, refl = pron
    obj = {"he": "him", "she": "her", "it": "it"}.get(subj, "them")
    return text.replace("{pos_obj}", obj).replace("{pos}", pos).replace("{self}", refl)


def caption_clip(rng: np.random.Generator, group: str, species: str, gender: str, steps: list[Step],
                 gait_of: dict[str, str], size: str | None, n: int = 4) -> list[str]:
    """`n` distinct captions (at least 3) for one clip."""
    out: list[str] = []
    for _ in range(12 * n):
        subj, pron = _subject(rng, group, species, gender, size)
        # the speed is said once, on the first moving step, and only sometimes repeated on the others
        key = next((i for i, s in enumerate(steps) if s.action in LOCOMOTION or s.action == "turn"), 0)
        phrases = [_fill(_phrase(rng, s, group, species, gait_of.get(s.action), 1.0 if i == key else 0.2), pron)
                   for i, s in enumerate(steps)]
        if len(phrases) == 1:
            body = phrases[0]
            text = f"{subj} {body}"
        elif len(phrases) == 2:
            text = _pick(rng, TWO).format(a=f"{subj} {phrases[0]}", b=phrases[1], p=pron[0])
        else:
            text = _pick(rng, THREE).format(a=f"{subj} {phrases[0]}", b=phrases[1], c=phrases[2], p=pron[0])
        if text.startswith("first "):
            text = "First, " + text[6:]
        text = text[0].upper() + text[1:]
        text = text.replace(" ,", ",").replace("  ", " ") + "."
        if text not in out:
            out.append(text)
        if len(out) >= n:
            break
    if len(out) < 3:
        raise RuntimeError(f"caption grammar produced only {len(out)} distinct captions for {steps}")
    return out
