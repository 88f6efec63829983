//! Not a step: exports `run`, but with the wrong type (string -> string).

wit_bindgen::generate!({
    inline: "
        package test:wrong;
        world wrong { export run: func(input: string) -> string; }
    ",
});

struct Wrong;

impl Guest for Wrong {
    fn run(input: String) -> String {
        input
    }
}

export!(Wrong);
