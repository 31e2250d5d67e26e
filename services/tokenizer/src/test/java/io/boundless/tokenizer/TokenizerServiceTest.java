package io.boundless.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class TokenizerServiceTest {

    @Test
    void limitsOpenDecodeStreamsAndGivesSlotsBack() {
        TokenizerService service = new TokenizerService(TestStores.sharedRegistry(), new TokenizerService.Limits(1 << 20, 16, 1 << 20, 64, 2));
        service.openStream("cl100k_base", false);
        service.openStream("cl100k_base", false);
        assertThatThrownBy(() -> service.openStream("cl100k_base", false))
                .isInstanceOf(LimitExceededException.class).hasMessageContaining("max-streams");
        service.closeStream();
        assertThat(service.openStream("cl100k_base", false)).isNotNull();
        assertThat(service.openStreams()).isEqualTo(2);
        // an unknown model takes no slot
        assertThatThrownBy(() -> service.openStream("nope", false)).isInstanceOf(UnknownModelException.class);
        assertThat(service.openStreams()).isEqualTo(2);
    }

    @Test
    void decodeStreamCapsItsIds() {
        TokenizerService service = new TokenizerService(TestStores.sharedRegistry(), new TokenizerService.Limits(1 << 20, 16, 4, 64, 2));
        StreamingDetokenizer s = service.openStream("cl100k_base", false);
        s.add(new int[] {1, 2, 3});
        assertThatThrownBy(() -> s.add(new int[] {4, 5})).isInstanceOf(InvalidRequestException.class).hasMessageContaining("at most 4");
    }
}
