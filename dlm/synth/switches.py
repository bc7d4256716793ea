"""The renderer's realism switches (issue 21) as data: a table with no imports, so the command
line builds its flags from it without starting JAX (`dlm.cli.main`)."""

# The renderer's realism switches (issue 21): name -> what it adds.  Each is off by default, and
# off renders exactly as before it existed, so each is an ablation.  `dlm.synth.render.make_assets`
# takes them by name; pools record the ones on (`dlm.synth.pool`); the CLI's flags and the synth benchmark's
# figures are built from this table, so a new switch is added here and in make_assets alone.
REALISM_SWITCHES = {
    "skin_detail": "blood, dark eye sockets, an oily T-zone and light that wraps around the skin's terminator as "
                   "scattering skin's does (dlm.synth.render.skin_detail)",
    "hair_volume": "scalp hair stands off the head with a silhouette and hides the landmarks behind it "
                   "(dlm.synth.render.hair_shell); off: hair is painted on the scalp",
    "long_hair": "long hair on some heads, hanging at the sides and back past the ears, jaw or shoulders "
                 "(dlm.synth.render.hair_curtain)",
    "eyelashes": "a dark lash line about the eye opening (dlm.synth.render.eye_rim); off: skin meets the eye's "
                 "white directly",
    "shoulders": "shoulders and chest under clothing below the neck, hiding what is behind them "
                 "(dlm.synth.render.torso); off: the neck ends over the background",
    "beard_volume": "full beards stand off the jaw and chin with a silhouette and hide the landmarks behind them "
                    "(dlm.synth.render.beard_shell); off: beards are painted on the skin",
    "natural_light": "the random lights' colours vary as photographs' do, warm to cool with a little green-magenta, "
                     "and the ambient is one colour from every direction (dlm.synth.render.sample_light); off: "
                     "each colour channel of the lights varies on its own (pink, lavender, green skin)",
    "cast_shadows": "the key light casts shadows (the nose's on the cheek, the jaw's on the neck, the brows' in the eye "
                    "sockets), found in screen space, with a soft edge (dlm.synth.render.cast_shadow); off: light is "
                    "blocked by nothing",
    "lenses": "the glasses' frames hold lenses: clear ones that tint and reflect a little, and sunglasses that hide "
              "the eyes behind them (dlm.synth.render.glass_lenses); off: empty frames",
}


def realism_switches(**switches) -> dict:
    """Every realism switch (REALISM_SWITCHES' order) as a bool: those given, the rest off.  An
    unknown name is a ValueError (a misspelt switch would otherwise render a pool without it)."""
    unknown = sorted(set(switches) - set(REALISM_SWITCHES))
    if unknown:
        raise ValueError(f"unknown realism switch(es) {', '.join(unknown)}; known: {', '.join(REALISM_SWITCHES)}")
    return {name: bool(switches.get(name, False)) for name in REALISM_SWITCHES}
