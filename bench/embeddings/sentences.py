"""The 512 benchmark sentences (deterministic, English, ~20 word pieces on average)."""
import random

SUBJ = ["The committee", "A young engineer", "Our neighbour", "The old library", "This new algorithm",
        "The river", "A small startup", "The orchestra", "My grandmother", "The research team",
        "An unexpected storm", "The city council"]
VERB = ["announced", "discovered", "questioned", "celebrated", "rebuilt", "explained", "reviewed",
        "postponed", "described", "improved"]
OBJ = ["a plan to reduce traffic downtown", "the results of a long experiment", "the history of the region",
       "a faster way to sort large files", "the schedule for next summer", "an unusual pattern in the data",
       "the budget for the coming year", "a recipe passed down for generations",
       "the causes of the recent flooding", "a proposal for cleaner public transport"]
TAIL = ["", ", surprising many observers", ", after months of debate", " during a crowded public meeting",
        ", according to local reports", " while critics remained unconvinced",
        ", and the response was enthusiastic", " in a detailed report published on Monday"]


def sentences(n: int = 512, seed: int = 1234):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        s = f"{rng.choice(SUBJ)} {rng.choice(VERB)} {rng.choice(OBJ)}{rng.choice(TAIL)}."
        if i % 4 == 0:
            s += f" {rng.choice(SUBJ)} {rng.choice(VERB)} {rng.choice(OBJ)}."
        out.append(s)
    return out
