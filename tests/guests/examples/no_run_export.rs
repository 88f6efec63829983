//! Not a step: a component that exports `start` instead of `run`.

wit_bindgen::generate!({
    inline: "
        package test:other;
        world other { export start: func(input: string) -> string; }
    ",
});

struct Other;

impl Guest for Other {
    fn start(input: String) -> String {
        input
    }
}

export!(Other);
